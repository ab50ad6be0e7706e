package db

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// EmailTemplateName is the one template paylinks has: the payment-link email.
const EmailTemplateName = "payment_link"

// EmailTemplate is an admin-edited email template.
type EmailTemplate struct {
	Name          string
	Subject       string
	Text          string
	HTML          string
	UpdatedBy     int64
	UpdatedByName string
	UpdatedAt     time.Time
}

// EmailTemplate loads a saved template; ErrNotFound when it was never
// saved (the caller uses the built-in default).
func (s *Store) EmailTemplate(ctx context.Context, name string) (EmailTemplate, error) {
	var t EmailTemplate
	var at int64
	err := s.read.QueryRowContext(ctx, `SELECT t.name, t.subject, t.body_text, t.body_html, COALESCE(t.updated_by, 0),
		COALESCE(u.name, ''), t.updated_at FROM email_templates t LEFT JOIN users u ON u.id = t.updated_by WHERE t.name = ?`, name).
		Scan(&t.Name, &t.Subject, &t.Text, &t.HTML, &t.UpdatedBy, &t.UpdatedByName, &at)
	if err != nil {
		return EmailTemplate{}, mapErr(err)
	}
	t.UpdatedAt = fromMS(at)
	return t, nil
}

// SaveEmailTemplate replaces a template and audits which parts changed.
func (s *Store) SaveEmailTemplate(ctx context.Context, t EmailTemplate, actor int64, a AuditEntry) error {
	return s.withTx(ctx, func(tx *Tx) error {
		var old EmailTemplate
		_ = tx.QueryRowContext(ctx, "SELECT subject, body_text, body_html FROM email_templates WHERE name = ?", t.Name).
			Scan(&old.Subject, &old.Text, &old.HTML)
		var actorArg any
		if actor != 0 {
			actorArg = actor
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO email_templates (name, subject, body_text, body_html, updated_by, updated_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET subject = excluded.subject, body_text = excluded.body_text,
			body_html = excluded.body_html, updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
			t.Name, t.Subject, t.Text, t.HTML, actorArg, ms(tx.now)); err != nil {
			return err
		}
		var changed []string
		for _, p := range []struct{ name, old, new string }{{"subject", old.Subject, t.Subject}, {"text", old.Text, t.Text}, {"html", old.HTML, t.HTML}} {
			if p.old != p.new {
				changed = append(changed, fmt.Sprintf("%s (%d→%d chars)", p.name, len(p.old), len(p.new)))
			}
		}
		if len(changed) == 0 {
			changed = []string{"nothing"}
		}
		a.Target = "email_template:" + t.Name
		a.Details = "changed " + strings.Join(changed, ", ") + "; subject now: " + t.Subject
		return insertAudit(ctx, tx, a)
	})
}
