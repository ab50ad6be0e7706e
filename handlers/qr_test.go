package handlers_test

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/paylinks/paylinks/paylink"
	"github.com/paylinks/paylinks/sandbox"
)

// The link page shows its QR image at an address carrying a hash of the
// checkout URL; that image is cached privately for a year, answers 304 to
// its ETag, and is the same PNG each time (encoded once).
func TestLinkQRIsCachedByItsCheckoutURL(t *testing.T) {
	w := newWebhookEnv(t, sandbox.FamilyV2)
	l := w.newLink(t, "INV-QR-1")
	w.addUser("clerk@example.com", paylink.RoleViewer)
	b := w.browser()
	b.login("clerk@example.com")

	src, ok := b.get("/links/" + strconv.FormatInt(l.ID, 10)).find("img[data-testid=qr]").Attr("src")
	if !ok || !strings.Contains(src, "?v=") {
		t.Fatalf("the link page's QR image is at %q, want an address with ?v=", src)
	}
	first := b.get(src)
	etag := first.resp.Header.Get("ETag")
	if first.status() != http.StatusOK || !strings.HasPrefix(first.body, "\x89PNG") || etag == "" {
		t.Fatalf("GET %s: status %d, ETag %q, want a PNG with an ETag", src, first.status(), etag)
	}
	if cc := first.resp.Header.Get("Cache-Control"); !strings.Contains(cc, "private") || !strings.Contains(cc, "max-age=31536000") || !strings.Contains(cc, "immutable") {
		t.Errorf("Cache-Control %q, want private, a year, immutable", cc)
	}
	again := b.get(src)
	if !bytes.Equal([]byte(again.body), []byte(first.body)) || again.resp.Header.Get("ETag") != etag {
		t.Errorf("the second answer differs from the first")
	}

	req, _ := http.NewRequest(http.MethodGet, w.srv.URL+src, nil)
	req.Header.Set("If-None-Match", etag)
	if p := b.do(req); p.status() != http.StatusNotModified || p.body != "" {
		t.Errorf("If-None-Match with its ETag: status %d, %d bytes; want 304 and no body", p.status(), len(p.body))
	}
	req, _ = http.NewRequest(http.MethodGet, w.srv.URL+src, nil)
	req.Header.Set("If-None-Match", `"something-else"`)
	if p := b.do(req); p.status() != http.StatusOK {
		t.Errorf("If-None-Match with another ETag: status %d, want 200", p.status())
	}
	// Without the hash (an old bookmark) the image is revalidated, not kept.
	if p := b.get("/links/" + strconv.FormatInt(l.ID, 10) + "/qr.png"); p.status() != http.StatusOK ||
		strings.Contains(p.resp.Header.Get("Cache-Control"), "immutable") || p.resp.Header.Get("ETag") != etag {
		t.Errorf("without ?v=: status %d, Cache-Control %q, ETag %q", p.status(), p.resp.Header.Get("Cache-Control"), p.resp.Header.Get("ETag"))
	}
	// Signed out: no image.
	if p := w.browser().get(src); p.status() != http.StatusSeeOther {
		t.Errorf("signed out: status %d, want the sign-in redirect", p.status())
	}
}
