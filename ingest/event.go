package ingest

import (
	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/stablemint"
)

// EventData normalises a verified body for the store. A body that is not a
// JSON object is kept, as unparsable, under the hash of its bytes.
func EventData(body []byte) db.WebhookEventData {
	ev, err := stablemint.ParseEvent(body)
	d := db.WebhookEventData{
		Key: ev.Key, Parsed: err == nil, Family: string(ev.Family), Type: ev.Type, Effect: effectOf(ev.Effect),
		SessionID: ev.SessionID, DepositReference: ev.DepositReference, IdempotencyKey: ev.IdempotencyKey,
		WebsiteReference: ev.WebsiteReference, AmountRaw: ev.AmountRaw, Currency: ev.Currency,
		OccurredAt: ev.OccurredAt, Body: body,
	}
	if exp, ok := stablemint.CurrencyExponent(ev.Currency); ok {
		d.Exponent = exp
	}
	if amt, err := ev.Amount(); err == nil {
		d.AmountMinor, d.AmountKnown = amt.Minor, true
	}
	return d
}

// effectOf names the provider's effect in paylink's words (stablemint imports nothing of the project).
func effectOf(e stablemint.Effect) paylink.Effect {
	switch e {
	case stablemint.EffectProcessing:
		return paylink.EffectProcessing
	case stablemint.EffectPaid:
		return paylink.EffectPaid
	case stablemint.EffectSettled:
		return paylink.EffectSettled
	case stablemint.EffectFailed:
		return paylink.EffectFailed
	}
	return paylink.EffectNone
}
