package db_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/migrations"
	"github.com/paylinks/paylinks/paylink"
)

// TestListUsersSeesEveryChange: ListUsers keeps its answer between calls
// (every list page reads it), yet every change to an account shows in the
// next call: made through the store, or by another process writing the
// same file (the paylinks users command), or an account becoming an API
// key's.
func TestListUsersSeesEveryChange(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "users.db")
	st, err := db.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx, migrations.FS); err != nil {
		t.Fatal(err)
	}
	// Another process: its own connection to the file.
	other, err := sql.Open("sqlite", db.DSN(path, false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })

	names := func() map[string]db.User {
		t.Helper()
		users, err := st.ListUsers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]db.User{}
		for _, u := range users {
			out[u.Email] = u
		}
		return out
	}
	a, err := st.CreateUser(ctx, db.NewUser{Email: "ada@example.invalid", Name: "Ada", Role: paylink.RoleFinance, PasswordHash: "!"}, db.AuditEntry{Action: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(); len(got) != 1 || got["ada@example.invalid"].Name != "Ada" {
		t.Fatalf("after creating Ada: %v", got)
	}
	names() // kept now
	if _, err := st.CreateUser(ctx, db.NewUser{Email: "bob@example.invalid", Name: "Bob", Role: paylink.RoleViewer, PasswordHash: "!"}, db.AuditEntry{Action: "t"}); err != nil {
		t.Fatal(err)
	}
	if got := names(); len(got) != 2 {
		t.Fatalf("after creating Bob: %d accounts, want 2", len(got))
	}
	if err := st.SetUserRole(ctx, a.ID, paylink.RoleAdmin, db.AuditEntry{Action: "t"}); err != nil {
		t.Fatal(err)
	}
	if got := names()["ada@example.invalid"]; got.Role != paylink.RoleAdmin {
		t.Fatalf("after the role change Ada is %s", got.Role)
	}
	if err := st.SetUserDisabled(ctx, a.ID, true, db.AuditEntry{Action: "t"}); err != nil {
		t.Fatal(err)
	}
	if got := names()["ada@example.invalid"]; !got.Disabled {
		t.Fatal("after disabling, Ada is listed enabled")
	}
	if _, err := other.ExecContext(ctx, "UPDATE users SET name = 'Ada L.' WHERE id = ?", a.ID); err != nil {
		t.Fatal(err)
	}
	if got := names()["ada@example.invalid"]; got.Name != "Ada L." {
		t.Fatalf("after a rename by another process: %q", got.Name)
	}
	if _, err := other.ExecContext(ctx, `INSERT INTO users (email, name, role, password_hash, created_at, updated_at)
		VALUES ('cli@example.invalid', 'Cli', 'viewer', '!', 0, 0)`); err != nil {
		t.Fatal(err)
	}
	if got := names(); len(got) != 3 {
		t.Fatalf("after another process created an account: %d accounts, want 3", len(got))
	}
	if _, err := other.ExecContext(ctx, `INSERT INTO api_keys (user_id, name, prefix, secret_hash, scopes, allowed_ips, created_by, created_at)
		SELECT id, 'k', 'pk', 'h', '', '', id, 0 FROM users WHERE email = 'cli@example.invalid'`); err != nil {
		t.Fatal(err)
	}
	if got := names(); len(got) != 2 {
		t.Fatalf("after an account became an API key's: %d accounts, want 2", len(got))
	}
	// The caller's copy is its own.
	users, _ := st.ListUsers(ctx)
	users[0].Name = "changed"
	if got := names(); got[users[0].Email].Name == "changed" {
		t.Fatal("a caller's change to the list reached the kept answer")
	}
}
