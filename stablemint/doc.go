// Package stablemint is paylinks' StableMint client: exact amounts, request
// validation and signing, POST /session/hosted with retries and a circuit
// breaker, webhook signature verification and webhook payload parsing.
//
// It imports only the standard library and no web framework, database or
// the sandbox: values in, values out; callers persist. docs/stablemint.md states the
// contract as implemented; this comment records every decision taken
// where the contract is silent.
//
// # Amounts
//
//   - Amount is integer minor units plus an ISO 4217 code; no float64
//     anywhere. Its exponent comes from the ISO 4217 table (Currencies):
//     list one as in force in December 2026, keeping every active code with
//     a numeric minor unit (fund codes such as CLF and UYW, exponent 4,
//     included) and leaving out codes whose minor unit is "N.A." (XAU, XDR,
//     XTS, XXX, …) and the withdrawn HRK, ANG, ZWL, SLL, CUC and BGN (euro
//     since 2026-01-01); XCG, ZWG and XAD are included. Codes must be upper
//     case.
//   - ParseAmount reads what people type; its comment has the exact rules.
//     In short: '.' alone is a decimal point; ',' alone is a decimal comma
//     when 1..exponent digits follow and a thousands separator when exactly
//     3 follow ("1,250" is 1250 EUR); in 3-decimal currencies "1,250" is
//     refused as ambiguous; with both, the last one is the decimal
//     separator; spaces (also no-break, thin, narrow no-break, figure) group
//     thousands; groups are three digits; more decimals than the currency has
//     are refused, even trailing zeros; signs, symbols, exponents, ".5" and
//     "5." are refused. Zero parses; Validate refuses it.
//   - AmountFromJSONNumber, for webhook amounts, follows the strict JSON
//     number grammar (exponents allowed, |exponent| ≤ 9999) and accepts
//     trailing zeros beyond the exponent ("10.500" EUR is exact), refusing
//     other extra digits and negatives.
//   - String and MarshalJSON write exactly the currency's decimals with a
//     dot; an unknown currency makes MarshalJSON fail and String say
//     "<n> minor units of <code>" rather than guess.
//   - Amount limits (Limits, Config.MinAmount/MaxAmount) are currency-less
//     decimals in major units, compared exactly with the amount in its own
//     currency: 0.1 allows 0.10 EUR and 0.100 KWD, and 1 JPY. A zero bound,
//     in Config as in Limits, is no bound on that side: StableMint documents
//     only its sandbox's limits, 0.1 and 10 (SandboxLimits), which
//     cmd/paylinks applies in demo mode; a Config without limits has none.
//     Amounts must be above zero regardless.
//
// # Requests
//
//   - Request.Validate reports every invalid field at once (ValidationErrors,
//     each with the JSON field name and a sentence for staff). Own picks:
//     codes must be upper case; Currency must equal Amount.Currency; email is
//     a bare address whose domain has a dot; URLs are absolute http or https
//     with a host and no user info, at most 2048 characters; no field may
//     contain control characters; userId, websiteReference, custom field
//     names and short KYC fields are capped at 255 characters, longer text
//     at 1024; the idempotency key is at most 255 visible ASCII characters;
//     dateOfBirth must be a real calendar date YYYY-MM-DD (not checked
//     against today). Validate does not require an idempotency key, so a
//     form can be checked before one is minted; CreateHostedSession does.
//   - Request.MarshalJSON writes the contract's names in its order, omits
//     empty optional fields and an all-empty userKyc, does not HTML-escape.
//     customFields is a JSON object; with Config.CustomFieldsAs
//     CustomFieldsString the client sends that object JSON-encoded into a
//     string instead (StableMint shows both). The body is encoded once per
//     call; every attempt sends those bytes.
//
// # Signing
//
//   - Headers are set with exactly the documented names (api_key, timestamp,
//     signature; ApiKey, Timestamp, Signature), not Go's canonical case; the
//     client speaks HTTP/1.1, which carries that case. Some proxies drop
//     headers with underscores (v1): do not put one in front of StableMint.
//   - Each attempt is signed afresh with the current time (v1 ms, v2 s); the
//     body and idempotency key never change between attempts.
//
// # Calls, retries, breaker
//
//   - One call is bounded by CallTimeout (15 s) including waits; transport
//     timeouts are dial 5 s, TLS 5 s, response headers 10 s; TLS ≥ 1.2 and
//     verified; no proxy (the environment's proxy settings are ignored); a
//     3xx is never followed and is a RejectedError; responses over 64 KiB
//     are refused.
//   - Retried: transport errors, timeouts, 429, 5xx, and a 2xx whose body
//     could not be read. Up to MaxAttempts (4) attempts; full-jitter backoff
//     in [0, min(30 s, 500 ms × 2^(n-1))]. A Retry-After (seconds or HTTP
//     date) replaces the backoff; one above RetryAfterMax (30 s), or any wait
//     that would outlast the call's deadline, ends the call at once as
//     unavailable rather than retrying early. Retries exhausted on 5xx/429
//     give an UnavailableError carrying the last status.
//   - The circuit breaker counts calls, not attempts: 5 consecutive calls
//     that each ended unavailable (after all their retries) open it, so up to
//     20 failed requests. While open, calls fail at once with an
//     UnavailableError wrapping ErrCircuitOpen. After the 30 s cool-down one
//     probe call (with its normal retries) is let through; others still fail
//     fast. A probe's final answer closes the breaker, its failure re-opens
//     it. Any final HTTP answer (2xx, 3xx, 4xx, even an unusable 2xx body or
//     an untrusted checkout host) counts as success: StableMint is up. A call ended by the caller's own
//     context counts as neither. BreakerState reports "half-open" once an
//     open breaker's cool-down has passed.
//   - Responses: url must be https, or http on 127.0.0.0/8, ::1 or
//     localhost, with no user info, and reference a non-empty string
//     without control characters, at most 255 bytes; otherwise the answer
//     is a ResponseError and nothing is stored. A url that passes but whose
//     host is not allowed gives the complete Session with an
//     *UntrustedCheckoutError: the session exists; send nobody to its URL
//     until the host is approved. An allow-list entry "host" or
//     "host:port" matches exactly, case-insensitively ("x" does not allow
//     "x:443"); "*.domain" matches any host name under domain, at any
//     depth, without a port (not the domain itself).
//   - expiresAt (ParseExpiresAt): a JSON number, Unix milliseconds when
//     above 1e12 (StableMint's rule), else seconds, fraction and exponent
//     allowed; or a string holding such a number or an ISO 8601 / RFC 3339
//     date and time, no zone meaning UTC. 0, null, "" or missing is "expiry
//     unknown" (ExpiresAt zero). So is anything unreadable (negative, other
//     JSON, before 1970, after 9999), logged as a warning, never an error:
//     the session exists. A past expiry is kept and logged.
//   - Default checkout hosts: "*.stablemint.io", "*.stablemint.net" and the
//     base URL's host (StableMint's checkout host is undocumented; its
//     hosts are under those two domains). A configured list replaces them.
//   - Logs carry the idempotency key, attempt, status and duration; never
//     the secret, key, signature, body, email or user id. The client adds
//     component=stablemint to Config.Logger itself. Config's String,
//     GoString and LogValue redact secrets.
//
// # Configuration
//
// The package reads no environment and no file: cmd/paylinks's
// configuration table fills Config from the STABLEMINT_* variables
// (docs/operations.md lists them), reading the key files it names and
// reporting every problem at once. Key files hold exactly one unencrypted
// PEM block (ParseRSAPrivateKeyPEM, ParseRSAPublicKeyPEM); RSA keys under
// 2048 bits are refused everywhere (own floor). Tolerances are Go durations above zero and
// at most 168 h each: the window can be neither switched off nor closed.
//
// # Webhooks
//
//   - Verify checks the signature over the raw bytes before anything parses
//     them. Each header must appear exactly once (also across differently
//     cased keys of a hand-built map). The signature must be canonical
//     standard Base64 (no whitespace, URL alphabet, missing padding, non-zero
//     padding bits or trailing data; at most 1368 characters). The timestamp,
//     at most 40 bytes, is RFC 3339 with or without a zone (none is UTC;
//     fractions allowed; 'T' and 'Z' in either case; ±hhmm too), or Unix
//     seconds or, above 1e12, milliseconds; a space for 'T', the ISO 8601
//     basic format, signs and surrounding spaces are refused. The signature
//     covers the header's exact text. It is checked before the window, so
//     "timestamp outside tolerance" means an authentic delivery outside
//     [now-past, now+future] (bounds inclusive).
//   - ParseEvent: an object with a notificationType is flat: legacy when the
//     type starts with "InwardPayment", partner when it starts with
//     "partner.", else by shape (paymentReference/account* fields → legacy;
//     partnerId, customerId, reference or endToEndId → partner; else
//     unknown). Otherwise an object whose "data" is an object is a V2
//     envelope, read from data. Event types map to effects exactly and
//     case-sensitively (EffectOf), the same in every family. The deposit
//     reference is reference, or paymentReference for legacy (and as a
//     fallback when reference is absent). Nullable fields read as ""; a
//     number, boolean, object or array where a string is expected is kept as
//     its JSON text. eventId is the key only when it is 1..255 characters
//     without control characters or surrounding spaces, else the body hash
//     is. OccurredAt is only read from V2's data.timestamp.
package stablemint
