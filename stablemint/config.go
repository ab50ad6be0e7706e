package stablemint

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// This package never reads the environment or files: the paylinks command
// reads the STABLEMINT_* variables and the key files they name
// (cmd/paylinks/config.go) into a Config. The checks below are the
// per-value ones it needs to name the variable at fault; New checks the
// whole Config again.

// MaxWebhookTolerance bounds each of Config's webhook tolerances.
const MaxWebhookTolerance = maxTolerance

// CheckBaseURL reports whether s can be Config.BaseURL: an absolute https
// URL (plain http only on a loopback host) without user info, query or
// fragment. Errors are worded to follow the setting's name ("is required").
func CheckBaseURL(s string) error { return checkBaseURL(s) }

// CheckCredential reports whether s can be Config.APIKey or APISecret: not
// empty, no control characters or surrounding spaces. Errors are worded to
// follow the setting's name and never quote s.
func CheckCredential(s string) error { return checkCredential(s) }

// NormaliseCheckoutHost checks one entry of Config.CheckoutHosts ("host" or
// "host:port", no scheme or path) and lower-cases it.
func NormaliseCheckoutHost(h string) (string, error) { return normaliseHost(h) }

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
