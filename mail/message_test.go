package mail_test

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	netmail "net/mail"
	"strings"
	"testing"
	"time"

	"github.com/paylinks/paylinks/mail"
)

// sample is a message as the outbox would hand it to a sender.
func sample(t *testing.T, d mail.Data) mail.Message {
	t.Helper()
	c, err := mail.DefaultTemplate.Compile()
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Render(d)
	if err != nil {
		t.Fatal(err)
	}
	return mail.Message{
		MessageID: "outbox-7.Q2VQ5ZRNKJ@acme.example",
		From:      mail.Address{Name: "Acme Billing", Email: "billing@acme.example"},
		To:        mail.Address{Name: d.CustomerName, Email: d.CustomerEmail},
		Subject:   r.Subject, Text: r.Text, HTML: r.HTML,
		Date: time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC),
	}
}

// parsed is a message read back the way a mail client would.
type parsed struct {
	header netmail.Header
	parts  []part
}

type part struct {
	contentType string
	body        string
}

func parseMessage(t *testing.T, raw []byte) parsed {
	t.Helper()
	m, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("read message: %v\n%s", err, raw)
	}
	p := parsed{header: m.Header}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q, want multipart/alternative", m.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		pt, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var r io.Reader = pt
		if strings.EqualFold(pt.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
			r = quotedprintable.NewReader(pt)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		p.parts = append(p.parts, part{contentType: pt.Header.Get("Content-Type"), body: string(b)})
	}
	return p
}

func decodeHeader(t *testing.T, v string) string {
	t.Helper()
	s, err := new(mime.WordDecoder).DecodeHeader(v)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRenderedMessageHeadersAndParts(t *testing.T) {
	d := mail.SampleData("Acme Ltd")
	d.CustomerName = "Zoë Ångström"
	d.CustomerID = `"><script>alert(1)</script>`
	d.WebsiteReference = `<script>alert("ref")</script>`
	m := sample(t, d)
	raw, err := mail.Render(m)
	if err != nil {
		t.Fatal(err)
	}
	p := parseMessage(t, raw)
	h := p.header
	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Address != "billing@acme.example" || from[0].Name != "Acme Billing" {
		t.Errorf("From = %q (%v)", h.Get("From"), err)
	}
	to, err := h.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Address != "ada@example.com" || to[0].Name != "Zoë Ångström" {
		t.Errorf("To = %q (%v)", h.Get("To"), err)
	}
	if got := decodeHeader(t, h.Get("Subject")); got != m.Subject {
		t.Errorf("Subject = %q, want %q", got, m.Subject)
	}
	if got := h.Get("Message-Id"); got != "<outbox-7.Q2VQ5ZRNKJ@acme.example>" {
		t.Errorf("Message-ID = %q", got)
	}
	if date, err := h.Date(); err != nil || !date.Equal(m.Date) {
		t.Errorf("Date = %q (%v)", h.Get("Date"), err)
	}
	if h.Get("MIME-Version") != "1.0" || h.Get("User-Agent") != "" || h.Get("X-Mailer") != "" {
		t.Errorf("MIME-Version %q, User-Agent %q, X-Mailer %q", h.Get("MIME-Version"), h.Get("User-Agent"), h.Get("X-Mailer"))
	}
	if len(p.parts) != 2 {
		t.Fatalf("%d parts, want 2", len(p.parts))
	}
	text, html := p.parts[0], p.parts[1]
	if !strings.HasPrefix(text.contentType, "text/plain") || !strings.Contains(text.contentType, "UTF-8") {
		t.Errorf("first part %q, want text/plain UTF-8", text.contentType)
	}
	if !strings.HasPrefix(html.contentType, "text/html") {
		t.Errorf("second part %q, want text/html", html.contentType)
	}
	for _, want := range []string{"Hello Zoë Ångström,", "€1,250.00", d.Link, "2 Dec 2026 09:00 UTC", "Acme Ltd", d.WebsiteReference} {
		if !strings.Contains(text.body, want) {
			t.Errorf("text part lacks %q:\n%s", want, text.body)
		}
	}
	if !strings.Contains(html.body, `href="`+d.Link+`"`) || !strings.Contains(html.body, "€1,250.00") {
		t.Errorf("HTML part lacks the link or amount:\n%s", html.body)
	}
	if strings.Contains(html.body, "<script") {
		t.Errorf("HTML part carries a live <script>:\n%s", html.body)
	}
	if !strings.Contains(html.body, "&lt;script&gt;alert(&#34;ref&#34;)&lt;/script&gt;") {
		t.Errorf("HTML part does not show the reference escaped:\n%s", html.body)
	}
}

func TestHeaderInjectionIsRefused(t *testing.T) {
	base := sample(t, mail.SampleData("Acme Ltd"))
	inject := "\r\nBcc: victim@example.com"
	cases := map[string]func(*mail.Message){
		"recipient address": func(m *mail.Message) { m.To.Email += inject },
		"recipient name":    func(m *mail.Message) { m.To.Name += inject },
		"subject":           func(m *mail.Message) { m.Subject += inject },
		"bare LF in name":   func(m *mail.Message) { m.To.Name = "Ada\nBcc: victim@example.com" },
		"bare CR":           func(m *mail.Message) { m.Subject = "Pay\rnow" },
		"sender name":       func(m *mail.Message) { m.From.Name += inject },
		"NUL in subject":    func(m *mail.Message) { m.Subject = "Pay\x00now" },
		"line separator":    func(m *mail.Message) { m.Subject = "Pay\u2028now" },
		"two recipients":    func(m *mail.Message) { m.To.Email = "ada@example.com, victim@example.com" },
		"message id":        func(m *mail.Message) { m.MessageID = "x@y>\r\nBcc: victim@example.com" },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			m := base
			mutate(&m)
			if err := m.Check(); err == nil {
				t.Fatal("Check accepted it")
			}
			if raw, err := mail.Render(m); err == nil {
				t.Fatalf("Render accepted it:\n%s", raw)
			}
		})
	}
}

func TestParseAddress(t *testing.T) {
	cases := []struct {
		in   string
		ok   bool
		want error
	}{
		{"ada@example.com", true, nil},
		{"ada.lovelace+invoices@mail.example.co.uk", true, nil},
		{"Ada <ada@example.com>", false, mail.ErrAddress},
		{"ada@example.com, eve@example.com", false, mail.ErrAddress},
		{"ada@example.com\r\nBcc: eve@example.com", false, mail.ErrLineBreak},
		{"ada@example.com\n", false, mail.ErrLineBreak},
		{"ada", false, mail.ErrAddress},
		{"@example.com", false, mail.ErrAddress},
		{"ada@", false, mail.ErrAddress},
		{"ada@[127.0.0.1]", false, mail.ErrAddress},
		{"ada @example.com", false, mail.ErrAddress},
		{"", false, mail.ErrAddress},
		{strings.Repeat("a", 250) + "@example.com", false, mail.ErrTooLong},
		{"ada\x00@example.com", false, mail.ErrControlChar},
		{"undisclosed-recipients:;", false, mail.ErrAddress},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := mail.ParseAddress(c.in)
			if c.ok {
				if err != nil || got != c.in {
					t.Fatalf("ParseAddress(%q) = %q, %v", c.in, got, err)
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("ParseAddress(%q) error %v, want %v", c.in, err, c.want)
			}
		})
	}
}

func TestParseMailbox(t *testing.T) {
	a, err := mail.ParseMailbox("Acme Billing <billing@acme.example>")
	if err != nil || a.Name != "Acme Billing" || a.Email != "billing@acme.example" || a.Domain() != "acme.example" {
		t.Fatalf("got %+v, %v", a, err)
	}
	if _, err := mail.ParseMailbox("billing@acme.example\r\nBcc: x@y.example"); err == nil {
		t.Fatal("accepted a line break")
	}
}

// FuzzHeaderValues: whatever the name and subject, either the message is
// refused or it comes out with exactly one recipient, no Bcc, and the same
// name and subject after decoding.
func FuzzHeaderValues(f *testing.F) {
	f.Add("Ada Lovelace", "Your payment link")
	f.Add("Ada\r\nBcc: victim@example.com", "Pay")
	f.Add("Ada", "Pay\r\nBcc: victim@example.com")
	f.Add("\"Eve\" <eve@example.com>, x", "=?utf-8?q?hi?=")
	f.Add("Zoë; Ångström", "Rechnung für März: 1.250,00 €")
	f.Add("a\u2028b", "\x7f")
	f.Fuzz(func(t *testing.T, name, subject string) {
		m := mail.Message{
			MessageID: "outbox-1.abc@acme.example",
			From:      mail.Address{Name: "Acme", Email: "billing@acme.example"},
			To:        mail.Address{Name: name, Email: "ada@example.com"},
			Subject:   subject, Text: "text", HTML: "<p>html</p>",
			Date: time.Unix(0, 0),
		}
		raw, err := mail.Render(m)
		if err != nil {
			return
		}
		if strings.ContainsAny(name+subject, "\r\n") {
			t.Fatalf("a line break passed: %q %q", name, subject)
		}
		msg, err := netmail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("unreadable message: %v\n%s", err, raw)
		}
		to, err := msg.Header.AddressList("To")
		if err != nil || len(to) != 1 || to[0].Address != "ada@example.com" {
			t.Fatalf("To = %q (%v)", msg.Header.Get("To"), err)
		}
		if len(msg.Header["Bcc"]) != 0 || len(msg.Header["Cc"]) != 0 {
			t.Fatalf("extra recipients: %v", msg.Header)
		}
		want := name // a name that is not ASCII has \ and " as look-alikes (headerName)
		if strings.IndexFunc(name, func(r rune) bool { return r >= 0x80 }) >= 0 {
			want = strings.NewReplacer(`\`, "＼", `"`, "”").Replace(name)
		}
		if to[0].Name != want {
			t.Fatalf("name %q came back as %q, want %q", name, to[0].Name, want)
		}
		// Unfolding a long header (RFC 5322) may merge a run of spaces at a
		// fold point, as net/textproto does: compare with runs collapsed.
		squash := func(s string) string { return strings.Join(strings.Fields(s), " ") }
		got, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
		if err == nil && squash(got) != squash(subject) && !strings.Contains(subject, "=?") {
			t.Fatalf("subject %q came back as %q", subject, got)
		}
	})
}

// FuzzParseAddress: an accepted address is one line, one bare addr-spec,
// and net/mail reads it back unchanged as a single address.
func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"ada@example.com", "ada@example.com\r\nBcc: x@y.example", "\"a b\"@example.com",
		"a@b@c", "Ada <ada@example.com>", "a@example.com,b@example.com", "=?utf-8?q?x?=@example.com", "ü@exämple.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := mail.ParseAddress(s)
		if err != nil {
			return
		}
		if got != s || strings.ContainsAny(got, "\r\n\t ,;<>") {
			t.Fatalf("accepted %q as %q", s, got)
		}
		list, err := netmail.ParseAddressList(got)
		if err != nil || len(list) != 1 || list[0].Address != got || list[0].Name != "" {
			t.Fatalf("%q reads back as %v (%v)", got, list, err)
		}
	})
}

// TestStaffTextIsNeverReadAsAnEncodedWord: a subject or name typed with
// RFC 2047 syntax arrives exactly as typed, not decoded into other text.
func TestStaffTextIsNeverReadAsAnEncodedWord(t *testing.T) {
	for _, typed := range []string{"=?utf-8?q?Zo=C3=AB?=", "Invoice =?UTF-8?B?SGk=?= from Acme", strings.Repeat("=?x?= ", 30) + "ü"} {
		t.Run(typed[:10], func(t *testing.T) {
			m := mail.Message{MessageID: "outbox-1.abc@acme.example", From: mail.Address{Name: typed[:min(len(typed), 90)], Email: "billing@acme.example"},
				To: mail.Address{Name: "Ada", Email: "ada@example.com"}, Subject: typed, Text: "x", HTML: "<p>x</p>"}
			raw, err := mail.Render(m)
			if err != nil {
				t.Fatal(err)
			}
			msg, err := netmail.ReadMessage(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			dec := new(mime.WordDecoder)
			subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
			if err != nil || subject != typed {
				t.Fatalf("subject arrives as %q (%v), typed %q; raw header %q", subject, err, typed, msg.Header.Get("Subject"))
			}
			// The name travels as a quoted-string, which RFC 2047 readers
			// do not decode.
			from, err := msg.Header.AddressList("From")
			if err != nil || len(from) != 1 || from[0].Name != m.From.Name || !strings.Contains(msg.Header.Get("From"), `"`) {
				t.Fatalf("from name arrives as %v (%v) in %q, typed %q", from, err, msg.Header.Get("From"), m.From.Name)
			}
		})
	}
}

// TestHTMLPartIsWhatAReaderDecodes: the bytes HTMLPart gives (what the
// staff preview serves) are the HTML part a mail client decodes from the
// message Build writes, whatever the line endings of the template.
func TestHTMLPartIsWhatAReaderDecodes(t *testing.T) {
	d := mail.SampleData("Acme Ltd")
	d.CustomerName = "Zoë Ångström"
	for name, html := range map[string]string{
		"template":          "",
		"CRLF and lone CR":  "<p style=\"color:#0b57d0\">a\r\nb\rc\n</p>",
		"long line, spaces": "<p>" + strings.Repeat("Zoë Ångström ", 30) + " \n\t</p>",
	} {
		t.Run(name, func(t *testing.T) {
			m := sample(t, d)
			if html != "" {
				m.HTML = html
			}
			raw, err := mail.Render(m)
			if err != nil {
				t.Fatal(err)
			}
			got := parseMessage(t, raw).parts[1].body
			if want := mail.HTMLPart(m.HTML); got != want {
				t.Errorf("decoded HTML part differs from HTMLPart:\ngot  %q\nwant %q", got, want)
			}
		})
	}
}

func TestAddressDisplayIsNeverEncoded(t *testing.T) {
	for _, c := range []struct {
		a    mail.Address
		want string
	}{
		{mail.Address{Name: "Zoë Ångström", Email: "zoe@example.com"}, "Zoë Ångström <zoe@example.com>"},
		{mail.Address{Email: "zoe@example.com"}, "zoe@example.com"},
		{mail.Address{Name: "=?utf-8?q?Zo=C3=AB?=", Email: "z@example.com"}, "=?utf-8?q?Zo=C3=AB?= <z@example.com>"},
		{mail.Address{Name: "boss@example.com", Email: "z@example.com"}, `"boss@example.com" <z@example.com>`},
	} {
		if got := c.a.Display(); got != c.want {
			t.Errorf("Display(%+v) = %q, want %q", c.a, got, c.want)
		}
	}
}
