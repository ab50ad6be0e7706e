package mail_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/paylinks/paylinks/mail"
	"github.com/paylinks/paylinks/mail/smtptest"
)

func TestParseSMTPURL(t *testing.T) {
	cases := []struct {
		in       string
		host     string
		port     int
		security mail.Security
		user     string
		pass     string
		bad      string
	}{
		{in: "smtp://user:p%40ss@mail.example:587", host: "mail.example", port: 587, security: mail.STARTTLS, user: "user", pass: "p@ss"},
		{in: "smtp://mail.example", host: "mail.example", port: 587, security: mail.STARTTLS},
		{in: "smtps://u:pw-x9@mail.example", host: "mail.example", port: 465, security: mail.ImplicitTLS, user: "u", pass: "pw-x9"},
		{in: "smtps://u:pw-x9@mail.example:2465", host: "mail.example", port: 2465, security: mail.ImplicitTLS, user: "u", pass: "pw-x9"},
		{in: "smtp://127.0.0.1:1025?tls=none", host: "127.0.0.1", port: 1025, security: mail.PlainText},
		{in: "smtp://u:secret@127.0.0.1:1025?tls=none", bad: "plain text"},
		{in: "smtps://127.0.0.1:1025?tls=none", bad: "tls=none"},
		{in: "smtp://mail.example?tls=opportunistic", bad: "tls=opportunistic"},
		{in: "smtp://mail.example?insecure=1", bad: "unknown parameter"},
		{in: "http://mail.example", bad: "scheme"},
		{in: "smtp://:587", bad: "no host"},
		{in: "smtp://mail.example:99999", bad: "port"},
		{in: "smtp://u:hunter2@mail.example/path", bad: "path"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := mail.ParseSMTPURL(c.in)
			if c.bad != "" {
				if err == nil || !strings.Contains(err.Error(), c.bad) {
					t.Fatalf("error %v, want one containing %q", err, c.bad)
				}
				if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "hunter2") {
					t.Fatalf("the error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Host != c.host || got.Port != c.port || got.Security != c.security || got.Username != c.user || got.Password != c.pass || got.Timeout != 15*time.Second {
				t.Fatalf("got %+v", got)
			}
			if c.pass != "" && strings.Contains(got.String(), c.pass) {
				t.Fatalf("String shows the password: %s", got)
			}
		})
	}
}

func startSMTP(t *testing.T, opts smtptest.Options) *smtptest.Server {
	t.Helper()
	s, err := smtptest.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func sender(t *testing.T, cfg mail.SMTPConfig) *mail.SMTP {
	t.Helper()
	cfg.Timeout = 5 * time.Second
	cfg.HELO = "paylinks.test"
	s, err := mail.NewSMTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSMTPConversationOverSTARTTLSWithAuth(t *testing.T) {
	serverTLS, roots, err := smtptest.NewTLS()
	if err != nil {
		t.Fatal(err)
	}
	srv := startSMTP(t, smtptest.Options{TLS: serverTLS, Username: "paylinks", Password: "s3cret"})
	s := sender(t, mail.SMTPConfig{Host: "127.0.0.1", Port: srv.Port(), Security: mail.STARTTLS, Username: "paylinks", Password: "s3cret", RootCAs: roots})
	m := sample(t, mail.SampleData("Acme Ltd"))
	reply, err := s.Send(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(reply, "OK") {
		t.Errorf("server reply %q", reply)
	}
	got := srv.Messages()
	if len(got) != 1 || got[0].From != "billing@acme.example" || len(got[0].To) != 1 || got[0].To[0] != "ada@example.com" {
		t.Fatalf("server received %+v", got)
	}
	p := parseMessage(t, got[0].Data)
	if p.header.Get("Message-Id") != "<"+m.MessageID+">" || len(p.parts) != 2 {
		t.Fatalf("received message: %v, %d parts", p.header, len(p.parts))
	}
	if !strings.Contains(p.parts[1].body, m.HTML[:40]) && !strings.Contains(p.parts[0].body, "Pay securely") {
		t.Errorf("parts do not carry the bodies")
	}
}

func TestSMTPImplicitTLS(t *testing.T) {
	serverTLS, roots, err := smtptest.NewTLS()
	if err != nil {
		t.Fatal(err)
	}
	srv := startSMTP(t, smtptest.Options{TLS: serverTLS, ImplicitTLS: true})
	s := sender(t, mail.SMTPConfig{Host: "127.0.0.1", Port: srv.Port(), Security: mail.ImplicitTLS, RootCAs: roots})
	if _, err := s.Send(context.Background(), sample(t, mail.SampleData("Acme"))); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Fatalf("%d messages", n)
	}
}

func TestSMTPFailures(t *testing.T) {
	serverTLS, roots, err := smtptest.NewTLS()
	if err != nil {
		t.Fatal(err)
	}
	m := sample(t, mail.SampleData("Acme"))
	t.Run("no STARTTLS offered: nothing is sent", func(t *testing.T) {
		srv := startSMTP(t, smtptest.Options{})
		s := sender(t, mail.SMTPConfig{Host: "127.0.0.1", Port: srv.Port(), Security: mail.STARTTLS, RootCAs: roots})
		_, err := s.Send(context.Background(), m)
		var de *mail.DeliveryError
		if !errors.As(err, &de) || de.Permanent || !strings.Contains(de.Reason, "STARTTLS") {
			t.Fatalf("error %v", err)
		}
		if n := len(srv.Messages()); n != 0 {
			t.Fatalf("%d messages sent in plain text", n)
		}
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		srv := startSMTP(t, smtptest.Options{TLS: serverTLS})
		s := sender(t, mail.SMTPConfig{Host: "127.0.0.1", Port: srv.Port(), Security: mail.STARTTLS})
		_, err := s.Send(context.Background(), m)
		if err == nil || mail.IsPermanent(err) || len(srv.Messages()) != 0 {
			t.Fatalf("error %v, %d messages", err, len(srv.Messages()))
		}
	})
	t.Run("550 recipient is permanent, with the server's words", func(t *testing.T) {
		srv := startSMTP(t, smtptest.Options{})
		srv.RefuseRecipients(1, 550, "5.1.1 No such user here")
		s := sender(t, mail.SMTPConfig{Host: "127.0.0.1", Port: srv.Port(), Security: mail.PlainText})
		_, err := s.Send(context.Background(), m)
		var de *mail.DeliveryError
		if !errors.As(err, &de) || !de.Permanent || de.Code != 550 || !strings.Contains(de.Reason, "550 5.1.1 No such user here") || !strings.Contains(de.Reason, "refused the recipient") {
			t.Fatalf("error %#v", err)
		}
	})
	t.Run("554 after DATA is permanent", func(t *testing.T) {
		srv := startSMTP(t, smtptest.Options{})
		srv.RefuseData(1, 554, "5.7.1 Message rejected as spam")
		s := sender(t, mail.SMTPConfig{Host: "127.0.0.1", Port: srv.Port(), Security: mail.PlainText})
		_, err := s.Send(context.Background(), m)
		if !mail.IsPermanent(err) || !strings.Contains(err.Error(), "spam") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("451 is transient", func(t *testing.T) {
		srv := startSMTP(t, smtptest.Options{})
		srv.RefuseRecipients(1, 451, "4.3.0 Try again later")
		s := sender(t, mail.SMTPConfig{Host: "127.0.0.1", Port: srv.Port(), Security: mail.PlainText})
		_, err := s.Send(context.Background(), m)
		var de *mail.DeliveryError
		if !errors.As(err, &de) || de.Permanent || de.Code != 451 {
			t.Fatalf("error %#v", err)
		}
	})
	t.Run("server down is transient", func(t *testing.T) {
		srv := startSMTP(t, smtptest.Options{})
		srv.Stop()
		s := sender(t, mail.SMTPConfig{Host: "127.0.0.1", Port: srv.Port(), Security: mail.PlainText})
		_, err := s.Send(context.Background(), m)
		if err == nil || mail.IsPermanent(err) || !strings.Contains(err.Error(), "could not be reached") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("a connection dropped before the reply to DATA is transient and says so", func(t *testing.T) {
		srv := startSMTP(t, smtptest.Options{})
		srv.AfterData(srv.Stop) // the server took the message, then went away before answering
		s := sender(t, mail.SMTPConfig{Host: "127.0.0.1", Port: srv.Port(), Security: mail.PlainText})
		_, err := s.Send(context.Background(), m)
		var de *mail.DeliveryError
		if !errors.As(err, &de) || de.Permanent || de.Reason != "the mail server closed the connection before it confirmed the message; it will be tried again" {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("wrong password is retried (an admin can fix it)", func(t *testing.T) {
		srv := startSMTP(t, smtptest.Options{TLS: serverTLS, Username: "u", Password: "right"})
		s := sender(t, mail.SMTPConfig{Host: "127.0.0.1", Port: srv.Port(), Security: mail.STARTTLS, Username: "u", Password: "wrong", RootCAs: roots})
		_, err := s.Send(context.Background(), m)
		var de *mail.DeliveryError
		if !errors.As(err, &de) || de.Permanent || de.Code != 535 || strings.Contains(de.Reason, "wrong") {
			t.Fatalf("error %#v", err)
		}
	})
	t.Run("invalid message is permanent and never dials", func(t *testing.T) {
		s := sender(t, mail.SMTPConfig{Host: "127.0.0.1", Port: 1, Security: mail.PlainText})
		bad := m
		bad.Subject = "x\r\nBcc: victim@example.com"
		if _, err := s.Send(context.Background(), bad); !mail.IsPermanent(err) {
			t.Fatalf("error %v", err)
		}
	})
}
