// Package sandbox is a fake StableMint: the hosted-session API, a hosted
// checkout page, and signed webhooks with StableMint's retry schedule, plus
// test controls. It runs in-process from Go tests (New, Start, Close) and as
// the `paylinks sandbox` subcommand (cmd/paylinks/sandbox.go).
//
// It implements StableMint's documented API (docs/stablemint.md) on its
// own and must not import
// or share code with the StableMint client (package stablemint): the two
// sides are written separately so they cannot share a bug. Where that page
// is silent, the decisions below are the sandbox's; the client must not
// depend on them beyond what the page says.
//
// # Creating a session: POST /session/hosted
//
// Checks run in this order; the first failure answers:
//
//  1. A failure injected by FailNextCreates answers its status before any
//     other check, creating nothing.
//  2. Authentication headers (401). Only the configured scheme's header
//     names are read (HTTP matches them case-insensitively): v1 "api_key",
//     "timestamp" (Unix milliseconds), "signature"; v2 "ApiKey", "Timestamp"
//     (Unix seconds), "Signature". A v2 request sent to a v1 sandbox is
//     missing "api_key". The key is compared in constant time. The
//     timestamp must be digits only and within ±5 minutes of Config.Now,
//     so a v1 client sending seconds (or v2 sending milliseconds) fails here.
//  3. Content-Type must be application/json, parameters allowed (415).
//  4. The body must be at most 64 KiB (413).
//  5. The signature (401): standard Base64 decoded strictly, RSA PKCS#1 v1.5
//     SHA-256, verified with Config.PartnerPublicKey. v1 signs
//     "<timestamp>,<secret>,<userId>" where userId is the body's userId
//     string ("" if the body has none, so such a request normally fails
//     here, not in validation); v2 signs "<timestamp>,<secret>,<raw body>".
//     The timestamp is used exactly as sent in the header.
//  6. The body (400), each problem answered as {"error": "...", "field":
//     "<json field>"} for the first invalid field in the contract's order
//     (userId, userEmail, userCountryCode, currency, amount, successUrl,
//     supportUrl, exitUrl, errorUrl, idempotencyKey, websiteReference,
//     customFields, userKyc), then unknown fields in name order. Nested
//     fields are named with a dot: "userKyc.dateOfBirth", "customFields.k".
//     A body that is not one JSON object has field "".
//  7. Idempotency (409 or replay), then the session is created.
//
// Validation rules:
//   - Required strings must be JSON strings, not blank.
//   - userEmail must be a bare address (net/mail, no display name).
//   - userCountryCode (and userKyc.citizenshipCountryCode) must be one of the
//     249 officially assigned ISO 3166-1 alpha-2 codes, upper case; XK, UK,
//     EU and lower case are refused.
//   - currency must be an active ISO 4217 code with a defined minor unit,
//     upper case (codes.go). Metals, SDR, test and withdrawn codes are refused.
//   - amount must be a JSON number (a string is refused), decoded with
//     UseNumber and never through float64, written as a plain decimal (no
//     exponent), with no more digits after the point than the currency's
//     minor unit, counting the digits as written ("1.0" JPY and "1.000" EUR
//     are refused), and between 0.1 and 10 inclusive, compared exactly.
//   - The four URLs must be absolute http or https URLs with a host.
//   - Optional fields, when present, must be non-empty: the contract says to
//     omit empty ones, so "" and null are refused. idempotencyKey is at most
//     255 characters. customFields must be a non-empty object of strings
//     (values may be ""); userKyc a non-empty object of the eight documented
//     string fields, dateOfBirth a real date written YYYY-MM-DD.
//   - Unknown fields, top level or in userKyc, are refused, so a misspelt
//     optional field is caught rather than silently dropped.
//
// Idempotency: keys are global to the sandbox (one API key). The same key
// with the same content answers 200 with the original url, expiresAt and
// reference and creates nothing, whatever the session's status since
// (paid, expired, …). Content is compared field by field, independent of key
// order and whitespace, with the amount compared by value (10.5 equals
// 10.50). The same key with different content answers 409 with field
// "idempotencyKey". Concurrent requests with one key create one session.
// Requests without a key always create a new session.
//
// The answer is {"url": "<base>/checkout/<reference>", "expiresAt": <Unix
// seconds>, "reference": "<ref>"}. The base is Config.PublicURL, else the
// listener's URL after Start, else "http://" + the request's Host (when only
// Handler is served). References are "HS" + 20 characters of an unambiguous
// upper-case alphabet; deposit references "DEP" + 16. expiresAt is creation
// time + SessionTTL, truncated to the second.
//
// # Checkout page: GET and POST /checkout/{reference}
//
// An open session shows the amount exactly as received, the currency, the
// reference, the websiteReference (when given), the expiry time, a link to
// supportUrl and one form with three submit buttons named "outcome" (values
// pay, fail, abandon); no JavaScript. The form has no action, so it posts to
// the page's own URL wherever the sandbox is mounted. The page carries a CSP
// allowing only its own inline style (by hash).
//
//   - pay: 303 to successUrl; the session becomes "paid"; the family's
//     success sequence is emitted.
//   - fail: 303 to errorUrl; "failed"; the failure sequence is emitted.
//   - abandon: 303 to exitUrl; "abandoned"; no webhook. Abandoning is final,
//     like paying or failing: the customer cannot come back and pay.
//
// All events of a sequence are created at once, at the button press.
//
// A session is expired when Config.Now reaches expiresAt, or after
// ExpireSession. An expired session answers 410 Gone with "This payment
// link has expired", for GET and POST. A paid, failed or abandoned session
// answers GET with 200 and "This payment has already been completed" (or
// "…closed" for abandoned) and POST with 409 and the same text. An unknown
// reference answers 404; an unknown outcome 400 with the buttons again.
//
// # Webhooks
//
// Sequences by Config.Family:
//
//	v2 (default)  pay:  partner.customer.deposit.created, .initiated, .submitted, .accepted, .completed
//	              fail: partner.customer.deposit.created, .failed
//	partner       pay:  partner.customer.deposit.created, .submitted, .reconciled, .accepted
//	              fail: partner.customer.deposit.created, .failed
//	legacy        pay:  InwardPaymentReconciled
//	              fail: InwardPaymentFailed
//
// Payloads (events.go has the exact structs):
//   - v2: {"eventId": "<uuid v4>", "data": {"eventType", "timestamp" (RFC
//     3339 UTC, seconds, the event's creation time), "sessionId" (the
//     session reference), "reference" (the deposit reference), "idempotencyKey",
//     "websiteReference", "customFields", "amount", "currency", "customerId"
//     (userId), "customerEmail", "endToEndId", "paymentMethod",
//     "paymentCountryCode" (userCountryCode)}}.
//   - partner: flat, "notificationType" plus partnerId ("PARTNER-SANDBOX"),
//     customerId, reference, amount, currency, sessionId, endToEndId,
//     externalPaymentId, paymentCountry, paymentMethod, customerEmail,
//     customerFullName (userKyc.fullName), idempotencyKey, websiteReference,
//     customFields.
//   - legacy: flat, "notificationType" plus sessionId, amount, currency,
//     paymentMethod, paymentReference (the deposit reference), userId,
//     userCountryCode, idempotencyKey, websiteReference, customFields,
//     accountBicCode, accountName (userKyc.fullName or "Sandbox Customer"),
//     accountAddress (userKyc.residenceAddress), accountIban (a fixed
//     example IBAN), status ("RECONCILED" or "FAILED").
//
// In every family: amount is the JSON number text exactly as received;
// paymentMethod is "BANK_TRANSFER"; optional values the session lacks are
// JSON null, never omitted and never ""; endToEndId (and partner
// externalPaymentId) is null on created, initiated and failed events and set
// from submitted on. One deposit reference and one endToEndId per session.
//
// Identity and bytes: every event gets an id when it is created (a UUID; in
// v2 it is the body's eventId, in the flat families only the sandbox's
// bookkeeping id, never sent) and its body bytes are fixed then: retries,
// Redeliver and Duplicate all send exactly those bytes.
//
// Signing: headers "StableMint-Timestamp" (RFC 3339 UTC, whole seconds, e.g.
// 2026-11-25T10:00:00Z) and "StableMint-Signature" (standard Base64 of RSA
// PKCS#1 v1.5 SHA-256 over "<timestamp>,<raw body>"), written with exactly
// that capitalisation. Each attempt, retries included, gets a fresh timestamp
// from Config.Now and a fresh signature over the same body; only Duplicate
// reuses the headers of the event's last correctly signed attempt. The key is
// Config.PrivateKey or one generated at New; its PKIX PEM is served at GET
// /_sandbox/public-key.pem.
//
// Delivery: POST with Content-Type application/json to the webhook URL in
// force at the moment of the attempt. Any 2xx acknowledges; any other status
// (redirects are not followed), a network error or a timeout (Config.HTTPClient,
// default 10 s) is a failed attempt. A failed attempt is retried 5, 10, 30,
// 60 and 90 minutes later, each delay multiplied by TimeScale: six attempts
// in all, then the delivery gives up (the last attempt is marked gaveUp).
// Retries use timers, never sleeping goroutines; Close stops them all and
// cancels requests in flight.
//
// Ordering: each session has one queue and sends one request at a time, in
// the order events were emitted. A failed attempt does not hold the queue:
// once its retry is scheduled the next event goes out, and the retry rejoins
// the back of the session's queue when its timer fires. So a receiver that is
// down sees later events before the retry of an earlier one — the "late, twice
// or out of order" case the contract warns about. Different sessions deliver
// concurrently.
//
// With no webhook URL, each delivery is recorded once as "not delivered" and
// not retried; Redeliver sends it once a URL is set.
//
// Every attempt is recorded (Deliveries, GET /_sandbox/deliveries): delivery
// id (shared by the attempts of one delivery), kind (original, redeliver,
// duplicate), event id and type, session reference, attempt number, time,
// URL, timestamp header, HTTP status or error, acknowledged, injected
// failure or corrupted signature, next retry time, gave up.
//
// # Test controls
//
// Go methods and, equivalently, JSON over HTTP under /_sandbox/ only (never
// on StableMint's own paths). They are unauthenticated: serve the sandbox on
// loopback. HTTP answers {"ok": true}, or {"error": "…", "field": ""} with
// 404 (unknown session or event), 400 (bad argument) or 409 (session expired
// or completed).
//
//	GET  /_sandbox/public-key.pem                 PKIX PEM of the webhook key (PublicKeyPEM)
//	GET  /_sandbox/sessions                       all sessions (Sessions)
//	GET  /_sandbox/sessions/{ref}                 one session (Session)
//	POST /_sandbox/sessions/{ref}/outcome         {"outcome":"pay"|"fail"|"abandon"} (Outcome)
//	POST /_sandbox/sessions/{ref}/expire          expire an open session now (ExpireSession)
//	POST /_sandbox/sessions/{ref}/send            {"events":["<type>",…]} (SendInOrder)
//	GET  /_sandbox/events                         all events with their bodies (Events)
//	POST /_sandbox/events/{id}/redeliver          (Redeliver)
//	POST /_sandbox/events/{id}/duplicate          (Duplicate)
//	GET  /_sandbox/deliveries                     every attempt (Deliveries)
//	POST /_sandbox/corrupt-next-signature         (CorruptNextSignature)
//	POST /_sandbox/fail-next-deliveries           {"n":3}, default 1 (FailNextDeliveries)
//	POST /_sandbox/fail-next-creates              {"n":1,"status":503}, defaults 1 and 503 (FailNextCreates)
//	POST /_sandbox/drop-next-create               (DropNextCreateAfterCommit)
//	POST /_sandbox/webhook-url                    {"url":"…"}, "" stops delivery (SetWebhookURL)
//
// Semantics:
//   - Outcome is exactly a button press, and is refused (ErrExpired,
//     ErrClosed) when the page would refuse it.
//   - SendInOrder emits events of the given full type names (of the
//     configured family) for a session in any status, in that order. A type
//     the session already has an event of is sent as that same event (same id
//     and body); other types get a new event. A paying type (v2 accepted or
//     completed, partner reconciled or accepted, InwardPaymentReconciled)
//     marks the session paid, otherwise a failing type marks it failed unless
//     it was paid.
//   - Redeliver is a new delivery of the event: same body, fresh headers, its
//     own retry schedule. Duplicate is the identical request again (same body
//     and, on its first attempt, same timestamp and signature), also with its
//     own retry schedule.
//   - FailNextDeliveries(n): the next n attempts that have a URL, retries
//     included, are not sent and are recorded as failed (injectedFailure),
//     then retried on schedule.
//   - CorruptNextSignature: the next attempt actually sent carries a
//     well-formed Base64 signature that does not verify; its retry is
//     correct.
//   - FailNextCreates(n, status): the next n POST /session/hosted answer
//     status (400-599; otherwise 503) before any check.
//   - DropNextCreateAfterCommit: the next POST /session/hosted that creates
//     a session (not a replay, not a refusal) stores it, then closes the
//     connection without a response. A retry with the same idempotency key
//     gets that session.
//   - ExpireSession: open sessions only (ErrClosed for completed ones).
//
// # Lifecycle
//
// New validates the Config (APIKey, APISecret and PartnerPublicKey are
// required). Start listens on Addr (default 127.0.0.1:9090) and serves in a
// goroutine; URL is then the listener's URL (an unspecified address is
// reported as 127.0.0.1). Handler may be served instead of Start. Close
// stops the server, cancels in-flight deliveries, stops every retry timer,
// drops queued deliveries and waits for the delivery goroutines, so nothing
// is left running; it is idempotent. Config.Logger gets one line per
// session, outcome and attempt, never keys, secrets or bodies.
//
// # Command
//
// Main implements `paylinks sandbox`: --addr, --api-key, --api-secret,
// --partner-public-key FILE (PKIX, PKCS#1 or a certificate), --scheme,
// --webhook-url, --family, --key FILE (PKCS#1 or PKCS#8; generated in memory
// if absent), --time-scale, --session-ttl, --public-url, --verbose. It
// prints where it listens and the public key URL, and runs until its context
// is done.
package sandbox
