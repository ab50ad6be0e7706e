package stablemint

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// Environment variables read by LoadConfig.
const (
	EnvBaseURL                = "STABLEMINT_BASE_URL"
	EnvAPIKey                 = "STABLEMINT_API_KEY"
	EnvAPISecret              = "STABLEMINT_API_SECRET"
	EnvPrivateKeyFile         = "STABLEMINT_PRIVATE_KEY_FILE"
	EnvWebhookPublicKeyFile   = "STABLEMINT_WEBHOOK_PUBLIC_KEY_FILE"
	EnvAuthScheme             = "STABLEMINT_AUTH_SCHEME"
	EnvCheckoutHosts          = "STABLEMINT_CHECKOUT_HOSTS"
	EnvMinAmount              = "STABLEMINT_MIN_AMOUNT"
	EnvMaxAmount              = "STABLEMINT_MAX_AMOUNT"
	EnvWebhookTolerancePast   = "STABLEMINT_WEBHOOK_TOLERANCE_PAST"
	EnvWebhookToleranceFuture = "STABLEMINT_WEBHOOK_TOLERANCE_FUTURE"
)

// EnvVar documents one environment variable, for the README and its test.
type EnvVar struct {
	Name        string
	Default     string // "" when required or derived
	Required    bool
	Description string
}

// EnvVars lists every variable LoadConfig reads, in a stable order.
func EnvVars() []EnvVar {
	return []EnvVar{
		{EnvBaseURL, "", true, "StableMint API base URL: https://paymentinitiationservice-rest.stablemint.io (production), https://paymentinitiationservice-rest.stablemint.net (StableMint's sandbox), or our sandbox; https, plain http only on loopback."},
		{EnvAPIKey, "", true, "StableMint API key, sent in the api_key (v1) or ApiKey (v2) header."},
		{EnvAPISecret, "", true, "StableMint API secret: signed into every request, never sent or logged."},
		{EnvPrivateKeyFile, "", true, "PEM file with the partner RSA private key (PKCS#1 or PKCS#8, unencrypted, at least 2048 bits) that signs requests."},
		{EnvWebhookPublicKeyFile, "", true, "Comma-separated PEM files, one StableMint RSA public key each (PKIX or PKCS#1, at least 2048 bits); a webhook signed by any of them is accepted (key rotation)."},
		{EnvAuthScheme, "v1", false, "Request signing scheme: v1 (hosted-session page) or v2 (newer documentation)."},
		{EnvCheckoutHosts, "", false, "Comma-separated hosts (host or host:port, exact, case-insensitive) a checkout URL may point to. Default: the base URL's host, plus checkout.stablemint.io or checkout.stablemint.net for StableMint's two API hosts."},
		{EnvMinAmount, "0.1", false, "Smallest link amount, a plain decimal in major units of the link's currency (StableMint's sandbox minimum; production limits are undocumented)."},
		{EnvMaxAmount, "10", false, "Largest link amount, a plain decimal in major units of the link's currency (StableMint's sandbox maximum; production limits are undocumented)."},
		{EnvWebhookTolerancePast, "4h", false, "How old a webhook's StableMint-Timestamp may be (Go duration, above 0, at most 168h)."},
		{EnvWebhookToleranceFuture, "5m", false, "How far ahead a webhook's StableMint-Timestamp may be (Go duration, above 0, at most 168h)."},
	}
}

// LoadConfig builds a Config from the environment through getenv (pass
// os.Getenv), reading the key files it names. It reports every problem at
// once, one line each, each naming its variable and never a secret's value.
// Values are trimmed of surrounding spaces; an empty value means unset.
func LoadConfig(getenv func(string) string) (Config, error) {
	l := envLoader{getenv: getenv}
	cfg := Config{
		BaseURL:   l.required(EnvBaseURL, checkBaseURL),
		APIKey:    l.required(EnvAPIKey, checkCredential),
		APISecret: l.required(EnvAPISecret, checkCredential),
	}
	cfg.PrivateKey = l.privateKey(EnvPrivateKeyFile)
	cfg.WebhookKeys = l.publicKeys(EnvWebhookPublicKeyFile)
	scheme, err := ParseScheme(l.get(EnvAuthScheme))
	if err != nil {
		l.fail(EnvAuthScheme, fmt.Errorf("must be v1 or v2, not %q", truncate(l.get(EnvAuthScheme), 16)))
	}
	cfg.Scheme = scheme
	cfg.CheckoutHosts = l.checkoutHosts(EnvCheckoutHosts, cfg.BaseURL)
	var minOK, maxOK bool
	cfg.MinAmount, minOK = l.decimal(EnvMinAmount, "0.1")
	cfg.MaxAmount, maxOK = l.decimal(EnvMaxAmount, "10")
	if minOK && cfg.MinAmount.IsZero() {
		l.fail(EnvMinAmount, errors.New("must be above 0"))
	}
	if minOK && maxOK && cfg.MaxAmount.Cmp(cfg.MinAmount) < 0 {
		l.fail(EnvMaxAmount, fmt.Errorf("is below %s (%s)", EnvMinAmount, cfg.MinAmount))
	}
	cfg.WebhookTolerancePast = l.duration(EnvWebhookTolerancePast, DefaultWebhookTolerancePast)
	cfg.WebhookToleranceFuture = l.duration(EnvWebhookToleranceFuture, DefaultWebhookToleranceFuture)
	if err := errors.Join(l.errs...); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// envLoader reads variables and collects one error per variable.
type envLoader struct {
	getenv func(string) string
	errs   []error
}

func (l *envLoader) get(name string) string { return strings.TrimSpace(l.getenv(name)) }

func (l *envLoader) fail(name string, err error) {
	if err != nil {
		l.errs = append(l.errs, fmt.Errorf("%s: %w", name, err))
	}
}

// required returns the variable if check accepts it; check's error is
// worded to follow the variable name ("is required").
func (l *envLoader) required(name string, check func(string) error) string {
	v := l.get(name)
	l.fail(name, check(v))
	return v
}

func (l *envLoader) privateKey(name string) *rsa.PrivateKey {
	data, path, ok := l.readFile(name)
	if !ok {
		return nil
	}
	key, err := ParseRSAPrivateKeyPEM(data)
	if err != nil {
		l.fail(name, fmt.Errorf("%s: %w", path, err))
		return nil
	}
	return key
}

func (l *envLoader) publicKeys(name string) []*rsa.PublicKey {
	v := l.get(name)
	if v == "" {
		l.fail(name, errors.New("is required"))
		return nil
	}
	paths := strings.Split(v, ",")
	for i := range paths {
		paths[i] = strings.TrimSpace(paths[i])
	}
	if slices.Contains(paths, "") {
		l.fail(name, errors.New("has an empty entry in its comma-separated list"))
		return nil
	}
	var keys []*rsa.PublicKey
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			l.fail(name, fmt.Errorf("cannot be read: %w", err))
			continue
		}
		key, err := ParseRSAPublicKeyPEM(data)
		if err != nil {
			l.fail(name, fmt.Errorf("%s: %w", path, err))
			continue
		}
		keys = append(keys, key)
	}
	return keys
}

// readFile reads the file a required variable names.
func (l *envLoader) readFile(name string) ([]byte, string, bool) {
	path := l.get(name)
	if path == "" {
		l.fail(name, errors.New("is required"))
		return nil, "", false
	}
	data, err := os.ReadFile(path)
	if err != nil {
		l.fail(name, fmt.Errorf("cannot be read: %w", err))
		return nil, "", false
	}
	return data, path, true
}

func (l *envLoader) checkoutHosts(name, baseURL string) []string {
	v := l.get(name)
	if v == "" {
		return DefaultCheckoutHosts(baseURL)
	}
	var hosts []string
	for h := range strings.SplitSeq(v, ",") {
		n, err := normaliseHost(h)
		if err != nil {
			l.fail(name, fmt.Errorf("has an invalid entry: %w", err))
			continue
		}
		hosts = append(hosts, n)
	}
	return hosts
}

func (l *envLoader) decimal(name, def string) (Decimal, bool) {
	v := l.get(name)
	if v == "" {
		v = def
	}
	d, err := ParseDecimal(v)
	if err != nil {
		l.fail(name, fmt.Errorf("must be a plain decimal such as %s", def))
		return Decimal{}, false
	}
	return d, true
}

func (l *envLoader) duration(name string, def time.Duration) time.Duration {
	v := l.get(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		l.fail(name, fmt.Errorf("must be a duration such as %s", def))
	case d <= 0:
		l.fail(name, errors.New("must be above 0"))
	case d > maxTolerance:
		l.fail(name, fmt.Errorf("must be at most %s", maxTolerance))
	}
	return d
}

// ParseRSAPrivateKeyPEM reads one unencrypted RSA private key, PKCS#1
// ("RSA PRIVATE KEY") or PKCS#8 ("PRIVATE KEY"), of at least 2048 bits. A
// file with more than one PEM block is refused. Errors never quote the key.
func ParseRSAPrivateKeyPEM(data []byte) (*rsa.PrivateKey, error) {
	block, err := singlePEMBlock(data)
	if err != nil {
		return nil, err
	}
	var key *rsa.PrivateKey
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		var k any
		if k, err = x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
			var ok bool
			if key, ok = k.(*rsa.PrivateKey); !ok {
				return nil, errors.New("the private key is not RSA")
			}
		}
	case "ENCRYPTED PRIVATE KEY":
		return nil, errors.New("encrypted private keys are not supported")
	default:
		return nil, fmt.Errorf("PEM block is %q, want \"RSA PRIVATE KEY\" or \"PRIVATE KEY\"", truncate(block.Type, 32))
	}
	if err != nil {
		return nil, errors.New("the RSA private key cannot be parsed")
	}
	if err := checkPrivateKey(key); err != nil {
		return nil, err
	}
	return key, nil
}

// ParseRSAPublicKeyPEM reads one RSA public key, PKIX ("PUBLIC KEY") or
// PKCS#1 ("RSA PUBLIC KEY"), of at least 2048 bits. A file with more than
// one PEM block is refused: one key per file.
func ParseRSAPublicKeyPEM(data []byte) (*rsa.PublicKey, error) {
	block, err := singlePEMBlock(data)
	if err != nil {
		return nil, err
	}
	var key *rsa.PublicKey
	switch block.Type {
	case "PUBLIC KEY":
		var k any
		if k, err = x509.ParsePKIXPublicKey(block.Bytes); err == nil {
			var ok bool
			if key, ok = k.(*rsa.PublicKey); !ok {
				return nil, errors.New("the public key is not RSA")
			}
		}
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block is %q, want \"PUBLIC KEY\" or \"RSA PUBLIC KEY\"", truncate(block.Type, 32))
	}
	if err != nil {
		return nil, errors.New("the RSA public key cannot be parsed")
	}
	if err := checkPublicKey(key); err != nil {
		return nil, err
	}
	return key, nil
}

// singlePEMBlock returns the only PEM block in data.
func singlePEMBlock(data []byte) (*pem.Block, error) {
	block, rest := pem.Decode(data)
	switch {
	case block == nil:
		return nil, errors.New("no PEM block found")
	case strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED"):
		return nil, errors.New("encrypted PEM keys are not supported")
	}
	if next, _ := pem.Decode(rest); next != nil {
		return nil, errors.New("more than one PEM block; put one key per file")
	}
	return block, nil
}
