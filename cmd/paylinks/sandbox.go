package main

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"

	"github.com/paylinks/paylinks/sandbox"
)

// runSandbox is `paylinks sandbox`: the StableMint sandbox alone, for
// evaluating the client against it or pointing another paylinks at it. It
// runs until ctx is done. args are the arguments after the subcommand name;
// a bad flag returns an error naming it.
func runSandbox(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("paylinks sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		addr        = fs.String("addr", sandbox.DefaultAddr, "listen address")
		apiKey      = fs.String("api-key", "", "API key the partner sends (required)")
		apiSecret   = fs.String("api-secret", "", "API secret the partner signs with (required)")
		partnerKey  = fs.String("partner-public-key", "", "PEM `file` with the partner's RSA public key, PKIX or PKCS#1 (required)")
		scheme      = fs.String("scheme", "v1", "request signing scheme: v1 or v2")
		webhookURL  = fs.String("webhook-url", "", "`URL` webhooks are POSTed to (none: recorded, not sent)")
		familyName  = fs.String("family", sandbox.FamilyV2, "webhook payload family: v2, partner or legacy")
		keyFile     = fs.String("key", "", "PEM `file` with the sandbox's RSA private key for signing webhooks (default: generated in memory)")
		timeScale   = fs.Float64("time-scale", 1, "multiply webhook retry delays by `F` (0.001 makes 5 minutes 300ms)")
		sessionTTL  = fs.Duration("session-ttl", sandbox.DefaultSessionTTL, "lifetime of a hosted session")
		publicURL   = fs.String("public-url", "", "base `URL` of checkout links (default: the listen address)")
		logRequests = fs.Bool("verbose", false, "log deliveries and sessions to stderr")
		strict      = fs.Bool("strict", false, "also refuse what paylinks' own conventions forbid and StableMint's document allows (empty optional fields, unknown keys, exponent amounts, a timestamp more than 5 minutes off, …)")
	)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: paylinks sandbox [flags]\n\nRuns a fake StableMint (API, checkout page, signed webhooks) for demos and tests.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("sandbox: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("sandbox: unexpected argument %q", fs.Arg(0))
	}

	var problems []string
	need := func(name, v string) {
		if v == "" {
			problems = append(problems, "--"+name+" is required")
		}
	}
	need("api-key", *apiKey)
	need("api-secret", *apiSecret)
	need("partner-public-key", *partnerKey)
	if *scheme != "v1" && *scheme != "v2" {
		problems = append(problems, fmt.Sprintf("--scheme %q: want v1 or v2", *scheme))
	}
	switch *familyName {
	case sandbox.FamilyV2, sandbox.FamilyPartner, sandbox.FamilyLegacy:
	default:
		problems = append(problems, fmt.Sprintf("--family %q: want v2, partner or legacy", *familyName))
	}
	if *timeScale <= 0 {
		problems = append(problems, fmt.Sprintf("--time-scale %v: must be greater than 0", *timeScale))
	}
	if *sessionTTL <= 0 {
		problems = append(problems, fmt.Sprintf("--session-ttl %v: must be greater than 0", *sessionTTL))
	}
	if *webhookURL != "" && !absoluteHTTPURL(*webhookURL) {
		problems = append(problems, fmt.Sprintf("--webhook-url %q: want an absolute http(s) URL", *webhookURL))
	}
	if *publicURL != "" && !absoluteHTTPURL(*publicURL) {
		problems = append(problems, fmt.Sprintf("--public-url %q: want an absolute http(s) URL", *publicURL))
	}
	var pub *rsa.PublicKey
	if *partnerKey != "" {
		b, err := os.ReadFile(*partnerKey)
		if err == nil {
			pub, err = parseSandboxPublicKeyPEM(b)
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("--partner-public-key: %v", err))
		}
	}
	var priv *rsa.PrivateKey
	if *keyFile != "" {
		b, err := os.ReadFile(*keyFile)
		if err == nil {
			priv, err = parseSandboxPrivateKeyPEM(b)
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("--key: %v", err))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("sandbox: %s", strings.Join(problems, "; "))
	}

	logger := slog.New(slog.DiscardHandler)
	if *logRequests {
		logger = slog.New(slog.NewTextHandler(stderr, nil)) // the sandbox names its component itself
	}
	s, err := sandbox.New(sandbox.Config{
		Addr:             *addr,
		PublicURL:        *publicURL,
		APIKey:           *apiKey,
		APISecret:        *apiSecret,
		PartnerPublicKey: pub,
		Scheme:           *scheme,
		WebhookURL:       *webhookURL,
		Family:           *familyName,
		PrivateKey:       priv,
		TimeScale:        *timeScale,
		SessionTTL:       *sessionTTL,
		Logger:           logger,
		Strict:           *strict,
	})
	if err != nil {
		return err
	}
	if err := s.Start(); err != nil {
		s.Close()
		return err
	}
	base := s.URL()
	fmt.Fprintf(stdout, "StableMint sandbox listening on %s (not StableMint: no real money moves)\n", base)
	fmt.Fprintf(stdout, "  API:          POST %s/session/hosted (signing scheme %s)\n", base, *scheme)
	fmt.Fprintf(stdout, "  public key:   %s/_sandbox/public-key.pem\n", base)
	if *strict {
		fmt.Fprintln(stdout, "  validation:   strict (paylinks' own conventions on top of StableMint's document)")
	} else {
		fmt.Fprintln(stdout, "  validation:   what StableMint's document allows (--strict for paylinks' own conventions)")
	}
	if *publicURL != "" {
		fmt.Fprintf(stdout, "  checkout at:  %s/checkout/{reference}\n", strings.TrimRight(*publicURL, "/"))
	}
	if *webhookURL != "" {
		fmt.Fprintf(stdout, "  webhooks:     %s (family %s, retry delays x%v)\n", *webhookURL, *familyName, *timeScale)
	} else {
		fmt.Fprintf(stdout, "  webhooks:     not sent (no --webhook-url); recorded at %s/_sandbox/deliveries\n", base)
	}
	if *keyFile == "" {
		fmt.Fprintln(stdout, "  signing key:  generated in memory (pass --key FILE to keep it across restarts)")
	}

	<-ctx.Done()
	fmt.Fprintln(stdout, "StableMint sandbox stopping")
	return s.Close()
}

// parseSandboxPublicKeyPEM reads an RSA public key from PEM: PKIX ("PUBLIC
// KEY"), PKCS#1 ("RSA PUBLIC KEY") or the key of a certificate. Unlike
// stablemint's parser it sets no size floor: the sandbox is a test double.
func parseSandboxPublicKeyPEM(b []byte) (*rsa.PublicKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	switch block.Type {
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		rk, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("public key is %T, want RSA", k)
		}
		return rk, nil
	case "RSA PUBLIC KEY":
		return x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		rk, ok := c.PublicKey.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("certificate key is %T, want RSA", c.PublicKey)
		}
		return rk, nil
	}
	return nil, fmt.Errorf("PEM block %q is not a public key", block.Type)
}

// parseSandboxPrivateKeyPEM reads an RSA private key from PEM: PKCS#1 ("RSA
// PRIVATE KEY") or PKCS#8 ("PRIVATE KEY").
func parseSandboxPrivateKeyPEM(b []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	switch block.Type {
	case "RSA PRIVATE KEY":
		return x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("private key is %T, want RSA", k)
		}
		return rk, nil
	}
	return nil, fmt.Errorf("PEM block %q is not a private key", block.Type)
}

// absoluteHTTPURL is an http(s) URL with a host, as the sandbox wants its
// URLs.
func absoluteHTTPURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	return (u.Scheme == "http" || u.Scheme == "https") && u.Opaque == "" && u.Hostname() != ""
}
