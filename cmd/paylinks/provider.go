package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/paylinks/paylinks/sandbox"
	"github.com/paylinks/paylinks/stablemint"
)

// provider is StableMint as serve uses it: the client, the webhook verifier
// and, in demo mode, the in-process sandbox standing in for StableMint.
type provider struct {
	Client   *stablemint.Client
	Verifier *stablemint.Verifier
	Sandbox  *sandbox.Server // nil unless in demo mode
}

// Close stops the sandbox, if any.
func (p *provider) Close() error {
	if p.Sandbox != nil {
		return p.Sandbox.Close()
	}
	return nil
}

// openProvider connects to the configured StableMint, or, when sm is nil
// (STABLEMINT_BASE_URL unset), starts the built-in sandbox on a free
// loopback port with demo keys kept in the data directory, and points the
// two at each other: the client signs with the demo partner key the sandbox
// trusts, and the sandbox's webhooks go to webhookURL, verified with the
// sandbox's key. Demo mode applies StableMint's sandbox amount limits (0.1
// to 10), which the built-in sandbox enforces too; a configured StableMint
// has the limits it was given, none when unset. The client and the sandbox
// each name their own log component, so both get log as it is.
func openProvider(sm *stablemint.Config, dataDir, webhookURL string, log *slog.Logger, stdout io.Writer) (*provider, error) {
	if sm != nil {
		cfg := *sm
		cfg.Logger = log
		return connect(cfg)
	}

	keys, err := demoKeys(filepath.Join(dataDir, "sandbox"))
	if err != nil {
		return nil, fmt.Errorf("sandbox keys: %w", err)
	}
	sb, err := sandbox.New(sandbox.Config{
		Addr: "127.0.0.1:0", APIKey: "demo", APISecret: keys.secret,
		PartnerPublicKey: &keys.partner.PublicKey, Scheme: "v1", WebhookURL: webhookURL,
		Family: "v2", PrivateKey: keys.sandbox, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	if err := sb.Start(); err != nil {
		return nil, fmt.Errorf("start sandbox: %w", err)
	}
	u, _ := url.Parse(sb.URL())
	limits := stablemint.SandboxLimits()
	cfg := stablemint.Config{
		BaseURL: sb.URL(), APIKey: "demo", APISecret: keys.secret, PrivateKey: keys.partner,
		Scheme: stablemint.SchemeV1, CheckoutHosts: []string{u.Host}, MinAmount: limits.Min, MaxAmount: limits.Max,
		WebhookKeys: []*rsa.PublicKey{&keys.sandbox.PublicKey}, Logger: log,
	}
	p, err := connect(cfg)
	if err != nil {
		sb.Close()
		return nil, err
	}
	p.Sandbox = sb
	fmt.Fprintf(stdout, "SANDBOX MODE: no real money moves. STABLEMINT_BASE_URL is not set, so the built-in StableMint sandbox runs at %s\n", sb.URL())
	return p, nil
}

func connect(cfg stablemint.Config) (*provider, error) {
	client, err := stablemint.New(cfg)
	if err != nil {
		return nil, err
	}
	p := &provider{Client: client}
	if len(cfg.WebhookKeys) > 0 {
		if p.Verifier, err = cfg.Verifier(); err != nil {
			return nil, err
		}
	}
	return p, nil
}

type demoKeySet struct {
	partner, sandbox *rsa.PrivateKey
	secret           string
}

// demoKeys loads, or makes on first start, the demo partner key, the
// sandbox's webhook key and the API secret, each a 0600 file in dir.
func demoKeys(dir string) (demoKeySet, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return demoKeySet{}, err
	}
	var ks demoKeySet
	var err error
	if ks.partner, err = loadOrMakeKey(filepath.Join(dir, "partner-private.pem")); err != nil {
		return ks, err
	}
	if ks.sandbox, err = loadOrMakeKey(filepath.Join(dir, "sandbox-private.pem")); err != nil {
		return ks, err
	}
	secret, err := loadOrMake(filepath.Join(dir, "api-secret"), func() ([]byte, error) {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		return []byte(hex.EncodeToString(b)), nil
	})
	ks.secret = strings.TrimSpace(string(secret))
	return ks, err
}

func loadOrMakeKey(path string) (*rsa.PrivateKey, error) {
	b, err := loadOrMake(path, func() ([]byte, error) {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
	})
	if err != nil {
		return nil, err
	}
	return stablemint.ParseRSAPrivateKeyPEM(b)
}

// loadOrMake reads path, or writes make's bytes there (mode 0600) first.
func loadOrMake(path string, generate func() ([]byte, error)) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return b, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if b, err = generate(); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, err
	}
	return b, errors.Join(f.Sync(), f.Close())
}
