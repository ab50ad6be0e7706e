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
// By default the sandbox accepts everything StableMint's document allows and
// refuses only what it forbids (issue #16: a stand-in stricter than the
// real thing hides the client's tolerance bugs instead of finding them).
// Config.Strict (`paylinks sandbox --strict`) adds paylinks' own stricter
// conventions, for the tests that want a request to be exactly what
// paylinks sends. Every rule of the document is checked before any strict
// one, so a refusal marked "strict" is always a request the default sandbox
// would have taken.
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
//     timestamp must be a Unix time written in digits.
//  3. The body must be at most 64 KiB (413): a guard of the sandbox's own
//     (the document names no size), in both modes.
//  4. The signature (401): standard Base64 decoded strictly, RSA PKCS#1 v1.5
//     SHA-256, verified with Config.PartnerPublicKey. v1 signs
//     "<timestamp>,<secret>,<userId>" where userId is the body's userId
//     string ("" if the body has none, so such a request normally fails
//     here, not in validation); v2 signs "<timestamp>,<secret>,<raw body>".
//     The timestamp is used exactly as sent in the header.
//  5. The body by the document's rules (400).
//  6. Strict only: the timestamp within ±5 minutes of Config.Now (401; a v1
//     client sending seconds, or v2 sending milliseconds, fails here);
//     Content-Type application/json, parameters allowed (415); the body by
//     paylinks' stricter rules (400).
//  7. Idempotency (409 or replay), then the session is created.
//
// A body problem is answered for the first invalid field in the contract's
// order (userId, userEmail, userCountryCode, currency, amount, successUrl,
// supportUrl, exitUrl, errorUrl, idempotencyKey, websiteReference,
// customFields, userKyc), then (Strict) unknown fields in name order. Nested
// fields are named with a dot: "userKyc.dateOfBirth", "customFields.k". A
// body that is not one JSON object has field "".
//
// Refusals: every error answer of the sandbox, on StableMint's paths and
// under /_sandbox/, carries the header X-Sandbox-Refusal and the body
// {"sandbox": true, "refusal": "…", "error": "…", "field": "…"}, with
// "sandbox" first so that even the start of a stored body shows it. The
// refusal (header and body alike) is "always" (refused in every mode),
// "strict" (refused only because of Strict), "injected" (FailNextCreates) or
// "control" (a test control's bad argument). That shape is the sandbox's
// own: nobody can take it for StableMint's, and the client must not depend
// on it.
//
// The document's rules (both modes):
//   - JSON body: one JSON object, nothing after it.
//   - Required fields ("required: yes"): present, not null, JSON strings
//     (amount a JSON number), not "".
//   - userEmail: an email address as net/mail reads one (a display name is
//     allowed; the text is kept as sent).
//   - userCountryCode ("ISO 3166-1 alpha-2"): one of the 249 officially
//     assigned codes, upper case; XK, UK, EU and lower case are refused.
//   - currency ("ISO 4217 code"): an active code of ISO 4217's current list
//     with a numeric minor unit, upper case (codes.go, pinned by a test).
//     Metals, SDR, bond units, test and withdrawn codes are refused: without
//     a minor unit an amount has no exact meaning.
//   - amount ("number", "StableMint's sandbox accepts 0.1 to 10
//     inclusive"): any JSON number, decoded with UseNumber and never through
//     float64, exponent and extra zeros included ("1e1", "9.500" EUR, "1.0"
//     JPY), compared exactly with 0.1 and 10. Decision: a value finer than
//     the currency's minor unit ("1.005" EUR, "1.5" JPY; the document keeps
//     amounts in "integer minor units") is refused, never rounded: the
//     sandbox never changes an amount. An exponent beyond ±1000 is refused
//     (a guard: such a value is never computed). The amount is kept, shown
//     and echoed in webhooks exactly as written.
//   - The four URLs ("absolute URL"): a scheme and a host.
//   - Optional strings ("string", "no"): absent, null and "" are all "no
//     value" (the document asks senders to omit empty fields, which does not
//     make an empty one wrong); anything else must be a string.
//   - customFields ("object (or string)", "string-to-string map"): an
//     object of strings, or a string holding such an object JSON-encoded
//     (the session keeps the object, so both forms with the same fields are
//     the same content for idempotency, and webhooks carry the object).
//     Absent, null, "" and {} are no fields.
//   - userKyc ("object", "all optional strings"): an object; each of the
//     eight documented fields a string, empty ones being no value;
//     dateOfBirth a real date written YYYY-MM-DD. Absent, null and {} are no
//     KYC. Unknown fields in it are ignored.
//   - Unknown top-level fields are ignored.
//
// What Strict adds (paylinks' conventions, which the document does not
// require):
//   - no timestamp more than 5 minutes from Config.Now; Content-Type
//     application/json (the two header rules above);
//   - required strings not blank (spaces only);
//   - userEmail a bare address, no display name;
//   - amount written as a plain decimal (no exponent) with no more digits
//     after the point than the currency's minor unit, counting the digits as
//     written ("1.0" JPY and "1.000" EUR are refused);
//   - the four URLs http or https;
//   - optional fields, when present, not null, "" or spaces; idempotencyKey
//     at most 255 characters;
//   - customFields (object or string) not empty, and no empty key;
//   - userKyc not empty, its fields not null or "", citizenshipCountryCode
//     an ISO 3166-1 alpha-2 code, no unknown field in it;
//   - no unknown top-level field, so a misspelt optional field is caught
//     rather than silently dropped.
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
// Payloads (events.go has the exact structs), with the fields of
// StableMint's published payloads (docs/stablemint.md, "The sandbox"):
//   - v2: {"eventId": "<uuid v4>", "data": {"eventType", "timestamp" (RFC
//     3339 UTC, seconds, the event's creation time), "sessionId" (the
//     session reference), "reference" (the deposit reference), "idempotencyKey",
//     "websiteReference", "customFields", "amount", "currency", "partnerName",
//     "customerId" (userId), "customerEmail", "customerFullName",
//     "customerCitizenshipCountryCode", "customerResidenceAddress",
//     "endToEndId", "paymentMethod", "paymentCountryCode" (userCountryCode)}}.
//   - partner: flat, "notificationType" plus partnerId ("PARTNER-SANDBOX"),
//     partnerName, customerId, reference, amount, currency, sessionId,
//     endToEndId, externalPaymentId, paymentCountry, paymentMethod,
//     customerEmail, customerFullName, customerCitizenshipCountryCode,
//     customerResidenceAddress, blockchainDestinationAddress,
//     blockchainDestinationNetwork, idempotencyKey, websiteReference,
//     customFields.
//   - legacy: flat, "notificationType" plus sessionId, amount, currency,
//     paymentMethod, paymentReference (the deposit reference), userId,
//     userCountryCode, idempotencyKey, websiteReference, customFields,
//     accountBicCode, accountName, accountAddress, accountIban (a fixed
//     example IBAN), status ("reconciled" or "failed", lower case as in the
//     document's example).
//
// In every family: amount is the JSON number text exactly as received;
// paymentMethod is "BANK_TRANSFER"; partnerName is "Sandbox Partner". The
// customer's fields come from the session's userKyc where it has them, else
// plausible fixed values: customerFullName and accountName from fullName,
// else "Sandbox Customer"; customerCitizenshipCountryCode from
// citizenshipCountryCode, else the userCountryCode; customerResidenceAddress
// and accountAddress from residenceAddress, else "1 Sandbox Street, 10115
// Berlin". The blockchain destination is a fixed example address on
// "ETHEREUM". idempotencyKey, websiteReference and customFields the session
// lacks are JSON null, never omitted and never "". endToEndId is a string
// on every v2 event (the document types it a string); in the partner family
// endToEndId and externalPaymentId are null on created and failed events and
// set from submitted on. One deposit reference and one endToEndId per
// session.
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
// loopback. HTTP answers {"ok": true}, or a refusal marked "control" (see
// above) with 404 (unknown session or event), 400 (bad argument) or 409
// (session expired or completed).
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
//	POST /_sandbox/slow-next-creates              {"n":1,"ms":12000}: the next n creates wait ms first (SlowNextCreates)
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
// session, outcome and attempt, never keys, secrets or bodies. The sandbox
// names its component itself (component=stablemint-sandbox, LogComponent),
// as the client names its own: callers pass a logger without a component
// (cmd/paylinks does), so a record carries it once.
//
// # Command
//
// cmd/paylinks/sandbox.go implements `paylinks sandbox`: --addr, --api-key, --api-secret,
// --partner-public-key FILE (PKIX, PKCS#1 or a certificate), --scheme,
// --webhook-url, --family, --key FILE (PKCS#1 or PKCS#8; generated in memory
// if absent), --time-scale, --session-ttl, --public-url, --strict (Config.Strict),
// --verbose (logs to stderr). It prints where it listens, the
// public key URL and the validation mode, and runs until its context is done.
package sandbox
