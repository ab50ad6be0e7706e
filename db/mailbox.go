package db

import (
	"context"
)

// The local mailbox is the outbox rows kept instead of sent because no SMTP
// server is configured (status kept), with the rendered message.

// MailboxEmails lists kept emails, newest first, at most limit.
func (s *Store) MailboxEmails(ctx context.Context, limit int) ([]Email, error) {
	return queryEmails(ctx, s.read, "SELECT "+emailCols+emailFrom+" WHERE o.status = 'kept' ORDER BY o.id DESC LIMIT ?", limit)
}

// MailboxEmail loads one kept email and the raw message it would have
// been. ErrNotFound when the row does not exist or was not kept.
func (s *Store) MailboxEmail(ctx context.Context, id int64) (Email, []byte, error) {
	var raw []byte
	if err := s.read.QueryRowContext(ctx, "SELECT COALESCE(raw_message, X'') FROM outbox WHERE id = ? AND status = 'kept'", id).Scan(&raw); err != nil {
		return Email{}, nil, mapErr(err)
	}
	e, err := s.EmailByID(ctx, id)
	return e, raw, err
}
