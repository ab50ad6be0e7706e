package stablemint

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrUnparsable is wrapped by ParseEvent's error when the body is not a JSON
// object. The returned Event still carries Key and Raw.
var ErrUnparsable = errors.New("webhook body is not a JSON object")

// Family is the payload family of a webhook.
type Family string

// The three documented families, and unknown.
const (
	FamilyLegacy  Family = "legacy"  // flat, notificationType InwardPayment*
	FamilyPartner Family = "partner" // flat, notificationType partner.customer.*
	FamilyV2      Family = "v2"      // {"eventId", "data": {"eventType", …}}
	FamilyUnknown Family = "unknown"
)

// Effect is what an event means for a link, per the contract's status table.
type Effect string

// Effects. EffectNone covers withdrawals, token transfers,
// transaction.status.changed and every unknown type.
const (
	EffectNone       Effect = "none"
	EffectProcessing Effect = "processing"
	EffectPaid       Effect = "paid"
	EffectSettled    Effect = "settled"
	EffectFailed     Effect = "failed"
)

// maxEventIDLength: a longer (or control-character) eventId is not used as
// the key; the body hash is.
const maxEventIDLength = 255

// Event is one webhook, normalised across families. String fields are ""
// when absent or null.
type Event struct {
	// Key identifies the event for deduplication: eventId when present,
	// else the lowercase hex SHA-256 of the raw body.
	Key    string
	Family Family
	// Type is the type exactly as sent (notificationType or data.eventType).
	Type   string
	Effect Effect
	// SessionID is sessionId.
	SessionID string
	// DepositReference is reference (partner, v2) or paymentReference
	// (legacy).
	DepositReference string
	IdempotencyKey   string
	WebsiteReference string
	CustomFields     map[string]string
	// AmountRaw is the amount exactly as sent: a JSON number's text or a
	// JSON string's content. Use Event.Amount to compare it.
	AmountRaw string
	Currency  string
	// OccurredAt is data.timestamp (v2) when present and RFC 3339, else zero.
	OccurredAt time.Time
	// Raw is a copy of the body, byte for byte.
	Raw []byte
}

// Amount returns the event's amount exactly, in its currency, for
// comparison with the link's Amount.
func (e Event) Amount() (Amount, error) {
	return AmountFromJSONNumber(e.AmountRaw, e.Currency)
}

// ParseEvent normalises a (verified) webhook body. An object with a
// notificationType is flat (legacy or partner); otherwise one whose "data" is
// an object is a V2 envelope, its fields read from data. A body that is not a JSON
// object yields an Event with Key, Raw, FamilyUnknown and EffectNone, and an
// error wrapping ErrUnparsable: the body is never lost. A JSON object of an
// unknown type is not an error: its Effect is EffectNone and its Family
// follows its shape.
func ParseEvent(rawBody []byte) (Event, error) {
	ev := Event{
		Key:    bodyKey(rawBody),
		Family: FamilyUnknown,
		Effect: EffectNone,
		Raw:    bytes.Clone(rawBody),
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(rawBody, &top); err != nil {
		return ev, fmt.Errorf("%w: %v", ErrUnparsable, err)
	}
	if top == nil {
		return ev, fmt.Errorf("%w: it is null", ErrUnparsable)
	}
	if id := scalar(top["eventId"]); usableEventID(id) {
		ev.Key = id
	}
	fields := top
	data, isEnvelope := object(top["data"])
	if ev.Type = scalar(top["notificationType"]); ev.Type != "" || !isEnvelope {
		ev.Family = flatFamily(ev.Type, top)
	} else {
		ev.Family, fields = FamilyV2, data
		ev.Type = scalar(data["eventType"])
		ev.OccurredAt = parseOccurredAt(scalar(data["timestamp"]))
	}
	ev.Effect = EffectOf(ev.Type)
	ev.fill(fields)
	return ev, nil
}

// fill copies the common fields.
func (e *Event) fill(f map[string]json.RawMessage) {
	e.SessionID = scalar(f["sessionId"])
	e.IdempotencyKey = scalar(f["idempotencyKey"])
	e.WebsiteReference = scalar(f["websiteReference"])
	e.AmountRaw = scalar(f["amount"])
	e.Currency = scalar(f["currency"])
	e.CustomFields = stringMap(f["customFields"])
	e.DepositReference = scalar(f["reference"])
	if e.Family == FamilyLegacy || e.DepositReference == "" {
		e.DepositReference = scalar(f["paymentReference"])
	}
}

// flatFamily classifies a flat payload: by its type's prefix, else by its
// shape (legacy bank-account fields, or partner/customer ids).
func flatFamily(typ string, f map[string]json.RawMessage) Family {
	switch {
	case strings.HasPrefix(typ, "InwardPayment"):
		return FamilyLegacy
	case strings.HasPrefix(typ, "partner."):
		return FamilyPartner
	}
	for _, k := range []string{"paymentReference", "accountIban", "accountBicCode", "accountName"} {
		if _, ok := f[k]; ok {
			return FamilyLegacy
		}
	}
	for _, k := range []string{"partnerId", "customerId", "reference", "endToEndId"} {
		if _, ok := f[k]; ok {
			return FamilyPartner
		}
	}
	return FamilyUnknown
}

// EffectOf maps an event type to its effect on a link, the same for every
// family: partner.customer.deposit.{created,initiated,submitted} →
// processing; .{reconciled,accepted} and InwardPaymentReconciled → paid;
// .completed → settled; .failed and InwardPaymentFailed → failed; anything
// else, matched exactly and case-sensitively, → none.
func EffectOf(eventType string) Effect {
	switch eventType {
	case "InwardPaymentReconciled":
		return EffectPaid
	case "InwardPaymentFailed":
		return EffectFailed
	}
	switch strings.TrimPrefix(eventType, "partner.customer.deposit.") {
	case eventType: // no such prefix
		return EffectNone
	case "created", "initiated", "submitted":
		return EffectProcessing
	case "reconciled", "accepted":
		return EffectPaid
	case "completed":
		return EffectSettled
	case "failed":
		return EffectFailed
	}
	return EffectNone
}

func bodyKey(raw []byte) string {
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

func usableEventID(id string) bool {
	return id != "" && len(id) <= maxEventIDLength && !hasControl(id) && strings.TrimSpace(id) == id
}

// object decodes a JSON object; ok is false for anything else (null too).
func object(raw json.RawMessage) (map[string]json.RawMessage, bool) {
	var m map[string]json.RawMessage
	if len(raw) == 0 || json.Unmarshal(raw, &m) != nil || m == nil {
		return nil, false
	}
	return m, true
}

// scalar returns a JSON string's content, a number's or boolean's literal
// text, "" for null or absence, and the compact text of an object or array.
func scalar(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return ""
	case raw[0] == '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		return ""
	case raw[0] == '{' || raw[0] == '[':
		var b bytes.Buffer
		if json.Compact(&b, raw) == nil {
			return b.String()
		}
	}
	return string(raw)
}

// stringMap decodes an object into strings via scalar; nil for non-objects.
func stringMap(raw json.RawMessage) map[string]string {
	m, ok := object(raw)
	if !ok {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = scalar(v)
	}
	return out
}

func parseOccurredAt(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}
