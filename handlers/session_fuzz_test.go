package handlers_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/securecookie"
	"github.com/paylinks/paylinks/paylink"
)

// fzHeaderSafe drops the bytes an HTTP client refuses in a header value.
func fzHeaderSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if (r < ' ' && r != '\t') || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// FuzzSessionCookie: the session cookie is the only credential a browser
// sends, so any value a client can put in it, random or a real cookie with
// bytes changed, cut or added, is answered without a 5xx, and a signed-in
// page (200) is served only when the value, parsed as the server parses
// cookies, decodes with the session keys to the real session's id. Anything
// else is sent to the sign-in page.
func FuzzSessionCookie(f *testing.F) {
	f.Add("", uint16(0), uint8(0))
	f.Add("garbage", uint16(0), uint8(0))
	f.Add("MTc2NDA2MzIwMHxabc==", uint16(0), uint8(0))
	f.Add(`"quoted"`, uint16(0), uint8(0))
	f.Add("A", uint16(7), uint8(1))   // one byte changed
	f.Add("=", uint16(200), uint8(1)) // base64 padding in the middle
	f.Add("", uint16(20), uint8(2))   // truncated
	f.Add("AAAA", uint16(1000), uint8(2))
	f.Add(";", uint16(30), uint8(3)) // a second cookie starts mid-value
	f.Add(" ", uint16(0), uint8(3))
	f.Add("", uint16(0), uint8(4)) // the real cookie, quoted
	e := newEnv(f)
	e.addUser("fuzz-session@example.com", paylink.RoleFinance)
	b := e.browser()
	b.login("fuzz-session@example.com")
	real := b.cookie("session")
	if real == nil {
		f.Fatal("no session cookie after signing in")
	}
	codecs := securecookie.CodecsFromPairs(fzSessionKeys()...)
	var realID string
	if err := securecookie.DecodeMulti("session", real.Value, &realID, codecs...); err != nil {
		f.Fatalf("the test's codecs do not decode the real cookie: %v", err)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	f.Fuzz(func(t *testing.T, edit string, pos uint16, op uint8) {
		v := real.Value
		i := int(pos) % (len(v) + 1)
		switch op % 5 {
		case 0:
			v = edit
		case 1:
			if edit != "" && i < len(v) {
				v = v[:i] + edit[:1] + v[i+1:]
			}
		case 2:
			v = v[:i] + edit
		case 3:
			v = v[:i] + edit + v[i:]
		case 4:
			v = `"` + v + `"` + edit
		}
		v = fzHeaderSafe(v)
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/links", nil)
		req.Header.Set("Cookie", "session="+v)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		// What the server saw, decoded with the real keys (no age check).
		var id string
		seen, _ := req.Cookie("session")
		valid := seen != nil && securecookie.DecodeMulti("session", seen.Value, &id, codecs...) == nil && id == realID
		switch {
		case resp.StatusCode >= 500:
			t.Fatalf("cookie %q: status %d", v, resp.StatusCode)
		case resp.StatusCode == http.StatusOK && !valid:
			t.Fatalf("cookie %q is not the session's, yet signed in (200)", v)
		case resp.StatusCode == http.StatusOK:
		case valid:
			t.Fatalf("the real session's cookie %q: status %d, want 200", v, resp.StatusCode)
		case resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login"):
			t.Fatalf("cookie %q: status %d to %q, want 303 to the sign-in page", v, resp.StatusCode, resp.Header.Get("Location"))
		}
	})
}

// fzSessionKeys are the session keys newEnv configures.
func fzSessionKeys() [][]byte {
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i)
	}
	return [][]byte{key, key}
}
