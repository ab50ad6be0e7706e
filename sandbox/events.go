package sandbox

import (
	"bytes"
	"encoding/json"
	"slices"
	"time"
)

// Webhook payload families.
const (
	FamilyV2      = "v2"
	FamilyPartner = "partner"
	FamilyLegacy  = "legacy"
)

// Fixed values of the fields a session has no value for (docs/stablemint.md,
// "The sandbox").
const (
	sandboxPartnerID       = "PARTNER-SANDBOX"
	sandboxPartnerName     = "Sandbox Partner"
	sandboxPaymentMethod   = "BANK_TRANSFER"
	sandboxBIC             = "SMNTDEFFXXX"
	sandboxIBAN            = "DE89370400440532013000"
	sandboxCustomerName    = "Sandbox Customer"
	sandboxCustomerAddress = "1 Sandbox Street, 10115 Berlin"
	sandboxChainAddress    = "0x5a4d0000000000000000000000000000000005a4"
	sandboxChainNetwork    = "ETHEREUM"
	depositPrefix          = "partner.customer.deposit."
)

// family describes one webhook payload family.
type family struct {
	name    string
	success []string // event types emitted on Pay, in order
	failure []string // event types emitted on Fail, in order
	paid    []string // types that mark the session paid (SendInOrder)
	failed  []string // types that mark the session failed (SendInOrder)
	build   func(ev *event, ss *session) any
}

var families = map[string]family{
	FamilyV2: {
		name:    FamilyV2,
		success: deposit("created", "initiated", "submitted", "accepted", "completed"),
		failure: deposit("created", "failed"),
		paid:    deposit("accepted", "completed"),
		failed:  deposit("failed"),
		build:   buildV2,
	},
	FamilyPartner: {
		name:    FamilyPartner,
		success: deposit("created", "submitted", "reconciled", "accepted"),
		failure: deposit("created", "failed"),
		paid:    deposit("reconciled", "accepted"),
		failed:  deposit("failed"),
		build:   buildPartner,
	},
	FamilyLegacy: {
		name:    FamilyLegacy,
		success: []string{"InwardPaymentReconciled"},
		failure: []string{"InwardPaymentFailed"},
		paid:    []string{"InwardPaymentReconciled"},
		failed:  []string{"InwardPaymentFailed"},
		build:   buildLegacy,
	},
}

func deposit(stages ...string) []string {
	out := make([]string, len(stages))
	for i, st := range stages {
		out[i] = depositPrefix + st
	}
	return out
}

// types is every event type the family can emit.
func (f family) types() []string {
	out := slices.Clone(f.success)
	for _, t := range f.failure {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// event is one webhook event. Its body is fixed when it is created: every
// delivery of the event sends these bytes.
type event struct {
	id         string
	typ        string
	sessionRef string
	createdAt  time.Time
	body       []byte
	// last correctly signed headers sent for it; a Duplicate reuses them
	lastTimestamp, lastSignature string
}

// EventInfo describes a webhook event.
type EventInfo struct {
	ID         string          `json:"id"` // v2: the body's eventId; other families: the sandbox's own id
	Type       string          `json:"type"`
	SessionRef string          `json:"sessionRef"`
	CreatedAt  time.Time       `json:"createdAt"`
	Body       json.RawMessage `json:"body"`
}

// newEventLocked builds an event of type typ for ss, stores it and returns
// it. Callers hold s.mu.
func (s *Server) newEventLocked(ss *session, typ string) *event {
	if ss.depositRef == "" {
		ss.depositRef = newID("DEP", 16)
		ss.endToEndID = newID("E2E", 24)
		ss.externalID = newID("EXT", 16)
	}
	ev := &event{id: newUUID(), typ: typ, sessionRef: ss.ref, createdAt: s.now()}
	ev.body = marshalBody(s.family.build(ev, ss))
	ss.events = append(ss.events, ev)
	s.events[ev.id] = ev
	s.eventOrder = append(s.eventOrder, ev)
	return ev
}

// marshalBody is compact JSON without HTML escaping.
func marshalBody(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil { // cannot happen: strings, maps and valid numbers
		panic(err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}

// optional is nil (JSON null) for "".
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// customer is who paid, as the webhooks name them: the session's KYC where
// it has the field, else plausible fixed values (the citizenship is then
// the userCountryCode).
type customer struct{ fullName, citizenship, residence string }

func customerOf(req *createRequest) customer {
	return customer{
		fullName:    orDefault(req.UserKyc["fullName"], sandboxCustomerName),
		citizenship: orDefault(req.UserKyc["citizenshipCountryCode"], req.UserCountryCode),
		residence:   orDefault(req.UserKyc["residenceAddress"], sandboxCustomerAddress),
	}
}

// hasEndToEnd reports whether the payment has reached the bank by this
// event: in the partner family, endToEndId and externalPaymentId are null
// before submission and on failure. (V2 documents endToEndId as a string
// and always carries it.)
func hasEndToEnd(typ string) bool {
	switch typ {
	case depositPrefix + "created", depositPrefix + "initiated", depositPrefix + "failed":
		return false
	}
	return true
}

// V2Envelope is a V2-family webhook body as StableMint documents it;
// tools that write such events themselves (the load test) use it too.
type V2Envelope struct {
	EventID string `json:"eventId"`
	Data    V2Data `json:"data"`
}

// V2Data is the data object of a V2Envelope. EndToEndID stays a pointer
// for the tools that write events themselves; the sandbox always sets it.
type V2Data struct {
	EventType                      string            `json:"eventType"`
	Timestamp                      string            `json:"timestamp"`
	SessionID                      string            `json:"sessionId"`
	Reference                      string            `json:"reference"`
	IdempotencyKey                 *string           `json:"idempotencyKey"`
	WebsiteReference               *string           `json:"websiteReference"`
	CustomFields                   map[string]string `json:"customFields"`
	Amount                         json.Number       `json:"amount"`
	Currency                       string            `json:"currency"`
	PartnerName                    string            `json:"partnerName"`
	CustomerID                     string            `json:"customerId"`
	CustomerEmail                  string            `json:"customerEmail"`
	CustomerFullName               string            `json:"customerFullName"`
	CustomerCitizenshipCountryCode string            `json:"customerCitizenshipCountryCode"`
	CustomerResidenceAddress       string            `json:"customerResidenceAddress"`
	EndToEndID                     *string           `json:"endToEndId"`
	PaymentMethod                  string            `json:"paymentMethod"`
	PaymentCountryCode             string            `json:"paymentCountryCode"`
}

func buildV2(ev *event, ss *session) any {
	c := customerOf(ss.req)
	return V2Envelope{EventID: ev.id, Data: V2Data{
		EventType:                      ev.typ,
		Timestamp:                      ev.createdAt.UTC().Format(time.RFC3339),
		SessionID:                      ss.ref,
		Reference:                      ss.depositRef,
		IdempotencyKey:                 optional(ss.req.IdempotencyKey),
		WebsiteReference:               optional(ss.req.WebsiteReference),
		CustomFields:                   ss.req.CustomFields,
		Amount:                         ss.req.Amount,
		Currency:                       ss.req.Currency,
		PartnerName:                    sandboxPartnerName,
		CustomerID:                     ss.req.UserID,
		CustomerEmail:                  ss.req.UserEmail,
		CustomerFullName:               c.fullName,
		CustomerCitizenshipCountryCode: c.citizenship,
		CustomerResidenceAddress:       c.residence,
		EndToEndID:                     &ss.endToEndID,
		PaymentMethod:                  sandboxPaymentMethod,
		PaymentCountryCode:             ss.req.UserCountryCode,
	}}
}

type partnerEvent struct {
	NotificationType               string            `json:"notificationType"`
	PartnerID                      string            `json:"partnerId"`
	PartnerName                    string            `json:"partnerName"`
	CustomerID                     string            `json:"customerId"`
	Reference                      string            `json:"reference"`
	Amount                         json.Number       `json:"amount"`
	Currency                       string            `json:"currency"`
	SessionID                      string            `json:"sessionId"`
	EndToEndID                     *string           `json:"endToEndId"`
	ExternalPaymentID              *string           `json:"externalPaymentId"`
	PaymentCountry                 string            `json:"paymentCountry"`
	PaymentMethod                  string            `json:"paymentMethod"`
	CustomerEmail                  string            `json:"customerEmail"`
	CustomerFullName               string            `json:"customerFullName"`
	CustomerCitizenshipCountryCode string            `json:"customerCitizenshipCountryCode"`
	CustomerResidenceAddress       string            `json:"customerResidenceAddress"`
	BlockchainDestinationAddress   string            `json:"blockchainDestinationAddress"`
	BlockchainDestinationNetwork   string            `json:"blockchainDestinationNetwork"`
	IdempotencyKey                 *string           `json:"idempotencyKey"`
	WebsiteReference               *string           `json:"websiteReference"`
	CustomFields                   map[string]string `json:"customFields"`
}

func buildPartner(ev *event, ss *session) any {
	c := customerOf(ss.req)
	p := partnerEvent{
		NotificationType:               ev.typ,
		PartnerID:                      sandboxPartnerID,
		PartnerName:                    sandboxPartnerName,
		CustomerID:                     ss.req.UserID,
		Reference:                      ss.depositRef,
		Amount:                         ss.req.Amount,
		Currency:                       ss.req.Currency,
		SessionID:                      ss.ref,
		PaymentCountry:                 ss.req.UserCountryCode,
		PaymentMethod:                  sandboxPaymentMethod,
		CustomerEmail:                  ss.req.UserEmail,
		CustomerFullName:               c.fullName,
		CustomerCitizenshipCountryCode: c.citizenship,
		CustomerResidenceAddress:       c.residence,
		BlockchainDestinationAddress:   sandboxChainAddress,
		BlockchainDestinationNetwork:   sandboxChainNetwork,
		IdempotencyKey:                 optional(ss.req.IdempotencyKey),
		WebsiteReference:               optional(ss.req.WebsiteReference),
		CustomFields:                   ss.req.CustomFields,
	}
	if hasEndToEnd(ev.typ) {
		p.EndToEndID = &ss.endToEndID
		p.ExternalPaymentID = &ss.externalID
	}
	return p
}

type legacyEvent struct {
	NotificationType string            `json:"notificationType"`
	SessionID        string            `json:"sessionId"`
	Amount           json.Number       `json:"amount"`
	Currency         string            `json:"currency"`
	PaymentMethod    string            `json:"paymentMethod"`
	PaymentReference string            `json:"paymentReference"`
	UserID           string            `json:"userId"`
	UserCountryCode  string            `json:"userCountryCode"`
	IdempotencyKey   *string           `json:"idempotencyKey"`
	WebsiteReference *string           `json:"websiteReference"`
	CustomFields     map[string]string `json:"customFields"`
	AccountBicCode   string            `json:"accountBicCode"`
	AccountName      string            `json:"accountName"`
	AccountAddress   string            `json:"accountAddress"`
	AccountIban      string            `json:"accountIban"`
	Status           string            `json:"status"`
}

func buildLegacy(ev *event, ss *session) any {
	status := "reconciled" // as the document's example writes it
	if ev.typ == "InwardPaymentFailed" {
		status = "failed"
	}
	c := customerOf(ss.req)
	return legacyEvent{
		NotificationType: ev.typ,
		SessionID:        ss.ref,
		Amount:           ss.req.Amount,
		Currency:         ss.req.Currency,
		PaymentMethod:    sandboxPaymentMethod,
		PaymentReference: ss.depositRef,
		UserID:           ss.req.UserID,
		UserCountryCode:  ss.req.UserCountryCode,
		IdempotencyKey:   optional(ss.req.IdempotencyKey),
		WebsiteReference: optional(ss.req.WebsiteReference),
		CustomFields:     ss.req.CustomFields,
		AccountBicCode:   sandboxBIC,
		AccountName:      c.fullName,
		AccountAddress:   c.residence,
		AccountIban:      sandboxIBAN,
		Status:           status,
	}
}
