package mail

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Message is one email as paylinks stores and sends it.
type Message struct {
	// MessageID is the Message-ID without angle brackets, stable for the
	// outbox row, so a message sent twice is recognisably one message.
	MessageID string
	From      Address
	To        Address
	Subject   string
	Text      string // the text/plain part
	HTML      string // the text/html part; already escaped by the template
	Date      time.Time
}

// Check refuses a message whose headers could carry anything but one
// header line each: CR/LF in a name, address or subject, a malformed
// address or Message-ID, or an empty part.
func (m Message) Check() error {
	var errs []error
	if err := m.From.Check(); err != nil {
		errs = append(errs, fmt.Errorf("from: %w", err))
	}
	if err := m.To.Check(); err != nil {
		errs = append(errs, fmt.Errorf("to: %w", err))
	}
	if err := CheckHeader(m.Subject, MaxSubjectLength); err != nil {
		errs = append(errs, fmt.Errorf("subject %w", err))
	} else if strings.TrimSpace(m.Subject) == "" {
		errs = append(errs, errors.New("subject is empty"))
	}
	if err := checkMessageID(m.MessageID); err != nil {
		errs = append(errs, err)
	}
	if strings.TrimSpace(m.Text) == "" || strings.TrimSpace(m.HTML) == "" {
		errs = append(errs, errors.New("both the text and the HTML part are required"))
	}
	return errors.Join(errs...)
}

// checkMessageID accepts id-left "@" id-right made of printable ASCII
// without spaces, brackets or a second @ (RFC 5322 §3.6.4, dot-atom-text).
func checkMessageID(id string) error {
	left, right, ok := strings.Cut(id, "@")
	if !ok || left == "" || right == "" || len(id) > 250 {
		return fmt.Errorf("message-id %q is malformed", id)
	}
	for _, r := range id {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune(`<>()[]\,;:"`, r) {
			return fmt.Errorf("message-id %q is malformed", id)
		}
	}
	if strings.Contains(right, "@") {
		return fmt.Errorf("message-id %q is malformed", id)
	}
	return nil
}

// Build turns a checked message into a go-mail message: From, To, Subject
// (RFC 2047-encoded when not ASCII), Date, Message-ID, MIME-Version and a
// multipart/alternative body with the plain text first and the HTML last
// (the one clients prefer), both quoted-printable UTF-8. No User-Agent.
func Build(m Message) (*gomail.Msg, error) {
	if err := m.Check(); err != nil {
		return nil, err
	}
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(m.From.netAddress())
	msg.ToMailAddress(m.To.netAddress())
	msg.Subject(literalText(m.Subject))
	msg.SetMessageIDWithValue(m.MessageID)
	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}
	msg.SetDateWithValue(date.UTC())
	msg.SetBodyString(gomail.TypeTextPlain, normaliseNewlines(m.Text))
	msg.AddAlternativeString(gomail.TypeTextHTML, HTMLPart(m.HTML))
	return msg, nil
}

// HTMLPart is the HTML part of a message exactly as Build writes it and as
// a mail client decodes it from the quoted-printable transfer encoding:
// every line ending CRLF. The staff preview serves these bytes, so what
// staff see is what the customer gets (one rendering path).
func HTMLPart(html string) string {
	return strings.ReplaceAll(normaliseNewlines(html), "\n", "\r\n")
}

// Render is the raw RFC 5322 message exactly as Build writes it to SMTP:
// what the local mailbox keeps.
func Render(m Message) ([]byte, error) {
	msg, err := Build(m)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := msg.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// normaliseNewlines makes every line end LF; the writer emits CRLF.
func normaliseNewlines(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}
