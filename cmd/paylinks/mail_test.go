package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/mail"
	"github.com/paylinks/paylinks/mail/smtptest"
	"github.com/paylinks/paylinks/migrations"
	"github.com/paylinks/paylinks/paylink"
)

func TestMailConfiguration(t *testing.T) {
	t.Run("defaults: no SMTP, the local mailbox", func(t *testing.T) {
		c, err := loadConfig(envFrom(nil))
		if err != nil {
			t.Fatal(err)
		}
		if c.SMTP != nil || c.MailFrom.Email != "paylinks@localhost" || c.MailFrom.Name != "paylinks" || c.CompanyName != "paylinks" || c.MailRate != 60 {
			t.Fatalf("defaults %+v %+v", c.SMTP, c.MailFrom)
		}
	})
	t.Run("SMTP with sender and password file", func(t *testing.T) {
		pw := filepath.Join(t.TempDir(), "smtp.pw")
		if err := os.WriteFile(pw, []byte("from-file\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := loadConfig(envFrom(map[string]string{
			"PAYLINKS_SMTP_URL": "smtp://billing%40acme.example:in-url@mail.acme.example", "PAYLINKS_SMTP_PASSWORD_FILE": pw,
			"PAYLINKS_MAIL_FROM": "billing@acme.example", "PAYLINKS_COMPANY_NAME": "Acme Ltd", "PAYLINKS_MAIL_RATE": "30",
		}))
		if err != nil {
			t.Fatal(err)
		}
		if c.SMTP.Host != "mail.acme.example" || c.SMTP.Port != 587 || c.SMTP.Security != mail.STARTTLS ||
			c.SMTP.Username != "billing@acme.example" || c.SMTP.Password != "from-file" {
			t.Fatalf("SMTP %+v", *c.SMTP)
		}
		if c.MailFrom != (mail.Address{Name: "Acme Ltd", Email: "billing@acme.example"}) || c.MailRate != 30 {
			t.Fatalf("from %+v rate %d", c.MailFrom, c.MailRate)
		}
	})
	cases := []struct {
		name string
		env  map[string]string
		bad  string
	}{
		{"bad URL, password kept out", map[string]string{"PAYLINKS_SMTP_URL": "smtp://u:hunter2@mail.example:99999", "PAYLINKS_MAIL_FROM": "a@b.example"}, "PAYLINKS_SMTP_URL"},
		{"opportunistic TLS refused", map[string]string{"PAYLINKS_SMTP_URL": "smtp://mail.example?tls=opportunistic", "PAYLINKS_MAIL_FROM": "a@b.example"}, "PAYLINKS_SMTP_URL"},
		{"password over plain text", map[string]string{"PAYLINKS_SMTP_URL": "smtp://u:hunter2@127.0.0.1:1025?tls=none", "PAYLINKS_MAIL_FROM": "a@b.example"}, "PAYLINKS_SMTP_URL"},
		{"SMTP without a sender", map[string]string{"PAYLINKS_SMTP_URL": "smtps://mail.example"}, "PAYLINKS_MAIL_FROM"},
		{"sender with a line break", map[string]string{"PAYLINKS_MAIL_FROM": "a@b.example\r\nBcc: x@y.example"}, "PAYLINKS_MAIL_FROM"},
		{"company name with a line break", map[string]string{"PAYLINKS_COMPANY_NAME": "Acme\nBcc: x@y.example"}, "PAYLINKS_COMPANY_NAME"},
		{"password file without SMTP", map[string]string{"PAYLINKS_SMTP_PASSWORD_FILE": "/nonexistent"}, "PAYLINKS_SMTP_PASSWORD_FILE"},
		{"rate zero", map[string]string{"PAYLINKS_MAIL_RATE": "0"}, "PAYLINKS_MAIL_RATE"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := loadConfig(envFrom(c.env))
			if err == nil || !strings.HasPrefix(err.Error(), c.bad+":") || strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("got %v, want an error naming %s without the password", err, c.bad)
			}
		})
	}
}

// A row left queued by an earlier process goes out when serve starts with
// an SMTP server configured.
func TestServeSendsWhatWasLeftQueued(t *testing.T) {
	srv, err := smtptest.Start(smtptest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	dbPath := filepath.Join(t.TempDir(), "mail.db")
	ctx := context.Background()
	st, err := db.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Migrate(ctx, migrations.FS); err != nil {
		t.Fatal(err)
	}
	u, err := st.CreateUser(ctx, db.NewUser{Email: "fin@example.com", Name: "Fin", Role: paylink.RoleFinance, PasswordHash: "x"}, db.AuditEntry{Action: "t"})
	if err != nil {
		t.Fatal(err)
	}
	l, _, err := st.CreateLink(ctx, db.NewLink{IdempotencyKey: "k1", CustomerID: "C1", CustomerEmail: "ada@example.com", Country: "DE",
		AmountMinor: 950, Currency: "EUR", SuccessURL: "https://s.example/s", SupportURL: "https://s.example/h",
		ExitURL: "https://s.example/e", ErrorURL: "https://s.example/r", CreatedBy: u.ID}, db.AuditEntry{Action: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CompleteLinkCreation(ctx, l.ID, "SM-1", "https://checkout.example/c/1", time.Now().Add(72*time.Hour)); err != nil {
		t.Fatal(err)
	}
	e, _, err := st.QueueEmail(ctx, db.NewEmail{LinkID: l.ID, FromAddr: "billing@acme.example", FromName: "Acme", ToAddr: "ada@example.com",
		Subject: "Your payment link", Text: "https://checkout.example/c/1", HTML: "<p>https://checkout.example/c/1</p>",
		MessageIDDomain: "acme.example", CreatedBy: u.ID}, db.AuditEntry{Action: "email.queue"})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	_, _, stop := startServe(t, map[string]string{
		"PAYLINKS_ADDR": "127.0.0.1:0", "PAYLINKS_DB": dbPath,
		"PAYLINKS_SMTP_URL":  "smtp://127.0.0.1:" + strconv.Itoa(srv.Port()) + "?tls=none",
		"PAYLINKS_MAIL_FROM": "billing@acme.example",
	})
	got := srv.WaitFor(1, 10*time.Second)
	if err := stop(); err != nil {
		t.Fatalf("serve: %v", err)
	}
	if len(got) != 1 || !strings.Contains(string(got[0].Data), "Message-ID: <"+e.MessageID+">") {
		t.Fatalf("server received %d messages", len(got))
	}
	st, err = db.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if e, _ = st.EmailByID(ctx, e.ID); e.Status != db.EmailSent {
		t.Fatalf("row %s after serve stopped", e.Status)
	}
}
