package db_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/paylink"
)

func totpUser(t *testing.T, st *db.Store, email string) db.User {
	t.Helper()
	u, err := st.CreateUser(context.Background(), db.NewUser{Email: email, Name: "T", Role: paylink.RoleFinance, PasswordHash: "x"}, db.AuditEntry{Action: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestTOTPEnrolmentLifecycle(t *testing.T) {
	st := mustOpenDB(t)
	ctx := context.Background()
	u := totpUser(t, st, "ada@example.com")

	if _, err := st.TOTPByUser(ctx, u.ID); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("no enrolment: err %v, want ErrNotFound", err)
	}
	if err := st.StartTOTPEnrolment(ctx, u.ID, "FIRSTSECRET", db.AuditEntry{Action: "2fa.enrol_start"}); err != nil {
		t.Fatal(err)
	}
	// Restarting replaces the unconfirmed secret.
	if err := st.StartTOTPEnrolment(ctx, u.ID, "SECONDSECRET", db.AuditEntry{Action: "2fa.enrol_start"}); err != nil {
		t.Fatal(err)
	}
	if tf, _ := st.TOTPByUser(ctx, u.ID); tf.Secret != "SECONDSECRET" || tf.Enabled {
		t.Fatalf("pending enrolment: %+v", tf)
	}
	// A confirmation for the replaced secret finds nothing.
	if err := st.EnableTOTP(ctx, u.ID, "FIRSTSECRET", 100, nil, db.AuditEntry{Action: "2fa.enable"}); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("enable a replaced secret: %v, want ErrNotFound", err)
	}
	if en, _, _ := st.TwoFactorStatus(ctx, u.ID); en {
		t.Fatal("an unconfirmed enrolment counts as enabled")
	}
	if err := st.EnableTOTP(ctx, u.ID, "SECONDSECRET", 100, []string{"h1", "h2", "h3"}, db.AuditEntry{Action: "2fa.enable"}); err != nil {
		t.Fatal(err)
	}
	tf, _ := st.TOTPByUser(ctx, u.ID)
	if !tf.Enabled || tf.LastStep != 100 || tf.RecoveryLeft != 3 {
		t.Fatalf("enabled: %+v", tf)
	}
	if err := st.StartTOTPEnrolment(ctx, u.ID, "THIRD", db.AuditEntry{Action: "2fa.enrol_start"}); !errors.Is(err, db.ErrConflict) {
		t.Fatalf("restart while enabled: %v, want ErrConflict", err)
	}
	if ids, _ := st.UsersWithTOTP(ctx); !ids[u.ID] || len(ids) != 1 {
		t.Fatalf("UsersWithTOTP = %v", ids)
	}
	if err := st.DisableTOTP(ctx, u.ID, db.AuditEntry{Action: "2fa.disable"}); err != nil {
		t.Fatal(err)
	}
	if err := st.DisableTOTP(ctx, u.ID, db.AuditEntry{Action: "2fa.disable"}); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("disable twice: %v", err)
	}
	if _, err := st.UseRecoveryCode(ctx, u.ID, "h1"); !errors.Is(err, db.ErrCodeUsed) {
		t.Fatalf("recovery code after disabling: %v", err)
	}
}

func TestTOTPStepsOnlyMoveForward(t *testing.T) {
	st := mustOpenDB(t)
	ctx := context.Background()
	u := totpUser(t, st, "ada@example.com")
	if err := st.UseTOTPStep(ctx, u.ID, 5); !errors.Is(err, db.ErrCodeUsed) {
		t.Fatalf("step without 2FA: %v", err)
	}
	st.StartTOTPEnrolment(ctx, u.ID, "S", db.AuditEntry{Action: "x"})
	if err := st.EnableTOTP(ctx, u.ID, "S", 10, nil, db.AuditEntry{Action: "x"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		step int64
		want error
	}{{10, db.ErrCodeUsed}, {9, db.ErrCodeUsed}, {12, nil}, {12, db.ErrCodeUsed}, {11, db.ErrCodeUsed}, {13, nil}} {
		if err := st.UseTOTPStep(ctx, u.ID, tc.step); !errors.Is(err, tc.want) {
			t.Errorf("step %d: got %v, want %v", tc.step, err, tc.want)
		}
	}
	// Racing requests with the same code: exactly one wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 8 {
		wg.Go(func() {
			if err := st.UseTOTPStep(ctx, u.ID, 20); err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d requests accepted step 20, want 1", wins)
	}
}

func TestRecoveryCodesAreSingleUse(t *testing.T) {
	st := mustOpenDB(t)
	ctx := context.Background()
	u := totpUser(t, st, "ada@example.com")
	other := totpUser(t, st, "bob@example.com")
	st.StartTOTPEnrolment(ctx, u.ID, "S", db.AuditEntry{Action: "x"})
	st.EnableTOTP(ctx, u.ID, "S", 1, []string{"a", "b"}, db.AuditEntry{Action: "x"})
	if left, err := st.UseRecoveryCode(ctx, u.ID, "a"); err != nil || left != 1 {
		t.Fatalf("first use: left %d, err %v", left, err)
	}
	if _, err := st.UseRecoveryCode(ctx, u.ID, "a"); !errors.Is(err, db.ErrCodeUsed) {
		t.Fatalf("second use: %v", err)
	}
	if _, err := st.UseRecoveryCode(ctx, other.ID, "b"); !errors.Is(err, db.ErrCodeUsed) {
		t.Fatalf("another user's code: %v", err)
	}
	if err := st.ReplaceRecoveryCodes(ctx, u.ID, []string{"c"}, db.AuditEntry{Action: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.UseRecoveryCode(ctx, u.ID, "b"); !errors.Is(err, db.ErrCodeUsed) {
		t.Fatalf("a replaced code: %v", err)
	}
	if err := st.ReplaceRecoveryCodes(ctx, other.ID, []string{"d"}, db.AuditEntry{Action: "x"}); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("codes for a user without 2FA: %v", err)
	}
}

func TestPendingLoginsExpireAndCompleteOnce(t *testing.T) {
	st := mustOpenDB(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	st.Now = func() time.Time { return now }
	u := totpUser(t, st, "ada@example.com")
	p, err := st.CreatePendingLogin(ctx, db.PendingLogin{TokenHash: "t1", UserID: u.ID, Next: "/links"}, 5*time.Minute, db.AuditEntry{Action: "login"})
	if err != nil || !p.ExpiresAt.Equal(now.Add(5*time.Minute)) {
		t.Fatalf("create: %+v %v", p, err)
	}
	if got, err := st.PendingLoginByToken(ctx, "t1", now.Add(4*time.Minute)); err != nil || got.Next != "/links" {
		t.Fatalf("within 5 min: %+v %v", got, err)
	}
	if _, err := st.PendingLoginByToken(ctx, "t1", now.Add(5*time.Minute)); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("at 5 min: %v", err)
	}
	if _, err := st.ConsumePendingLogin(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ConsumePendingLogin(ctx, "t1"); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("consumed twice: %v", err)
	}
	st.CreatePendingLogin(ctx, db.PendingLogin{TokenHash: "t2", UserID: u.ID}, 5*time.Minute, db.AuditEntry{Action: "login"})
	now = now.Add(6 * time.Minute)
	if _, err := st.ConsumePendingLogin(ctx, "t2"); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("consumed after expiry: %v", err)
	}
}

func TestResetTOTPEndsSessionsAndPendingSignIns(t *testing.T) {
	st := mustOpenDB(t)
	ctx := context.Background()
	u := totpUser(t, st, "ada@example.com")
	st.StartTOTPEnrolment(ctx, u.ID, "S", db.AuditEntry{Action: "x"})
	st.EnableTOTP(ctx, u.ID, "S", 1, []string{"a"}, db.AuditEntry{Action: "x"})
	for _, id := range []string{"s1", "s2"} {
		if _, err := st.CreateSession(ctx, db.Session{ID: id, UserID: u.ID, CSRFToken: "c"}, db.AuditEntry{Action: "login"}); err != nil {
			t.Fatal(err)
		}
	}
	st.CreatePendingLogin(ctx, db.PendingLogin{TokenHash: "p", UserID: u.ID}, time.Minute, db.AuditEntry{Action: "login"})
	if err := st.ResetTOTP(ctx, u.ID, db.AuditEntry{Action: "2fa.reset", ActorID: u.ID}); err != nil {
		t.Fatal(err)
	}
	if n, _ := st.CountUserSessions(ctx, u.ID); n != 0 {
		t.Fatalf("%d sessions left", n)
	}
	if _, err := st.TOTPByUser(ctx, u.ID); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("authenticator left: %v", err)
	}
	if _, err := st.ConsumePendingLogin(ctx, "p"); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("pending sign-in left: %v", err)
	}
	log, _ := st.ListAudit(ctx, 1)
	if log[0].Action != "2fa.reset" || log[0].Target != "user:"+strconv.FormatInt(u.ID, 10) {
		t.Fatalf("last audit entry %+v", log[0])
	}
}

func TestTwoFactorRequiredSetting(t *testing.T) {
	st := mustOpenDB(t)
	ctx := context.Background()
	u := totpUser(t, st, "ada@example.com")
	if on, err := st.TwoFactorRequired(ctx); err != nil || on {
		t.Fatalf("default: %v %v", on, err)
	}
	if _, req, err := st.TwoFactorStatus(ctx, u.ID); err != nil || req {
		t.Fatalf("status default: %v %v", req, err)
	}
	if err := st.SetTwoFactorRequired(ctx, true, u.ID, db.AuditEntry{Action: "2fa.require"}); err != nil {
		t.Fatal(err)
	}
	if _, req, _ := st.TwoFactorStatus(ctx, u.ID); !req {
		t.Fatal("status does not see the setting")
	}
	// The link defaults live under their own key and stay apart.
	if err := st.SaveSettings(ctx, db.Settings{DefaultCurrency: "EUR"}, u.ID, db.AuditEntry{Action: "settings.change"}); err != nil {
		t.Fatal(err)
	}
	if on, _ := st.TwoFactorRequired(ctx); !on {
		t.Fatal("saving link settings cleared the 2FA requirement")
	}
	st.SetTwoFactorRequired(ctx, false, u.ID, db.AuditEntry{Action: "2fa.require"})
	if on, _ := st.TwoFactorRequired(ctx); on {
		t.Fatal("not turned off")
	}
}

func TestUserEndsOnlyTheirOwnSessions(t *testing.T) {
	st := mustOpenDB(t)
	ctx := context.Background()
	ada, bob := totpUser(t, st, "ada@example.com"), totpUser(t, st, "bob@example.com")
	for _, s := range []db.Session{{ID: "a1", UserID: ada.ID}, {ID: "a2", UserID: ada.ID}, {ID: "a3", UserID: ada.ID}, {ID: "b1", UserID: bob.ID}} {
		if _, err := st.CreateSession(ctx, s, db.AuditEntry{Action: "login"}); err != nil {
			t.Fatal(err)
		}
	}
	if list, _ := st.ListUserSessions(ctx, ada.ID); len(list) != 3 {
		t.Fatalf("ada has %d sessions listed", len(list))
	}
	if err := st.EndUserSession(ctx, ada.ID, "b1", db.AuditEntry{Action: "session.end"}); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("ending bob's session as ada: %v", err)
	}
	if err := st.EndUserSession(ctx, ada.ID, "a2", db.AuditEntry{Action: "session.end"}); err != nil {
		t.Fatal(err)
	}
	if n, err := st.EndOtherSessions(ctx, ada.ID, "a1", db.AuditEntry{Action: "session.end_others"}); err != nil || n != 1 {
		t.Fatalf("end others: %d %v", n, err)
	}
	if list, _ := st.ListUserSessions(ctx, ada.ID); len(list) != 1 || list[0].ID != "a1" {
		t.Fatalf("left: %+v", list)
	}
	if n, _ := st.CountUserSessions(ctx, bob.ID); n != 1 {
		t.Fatal("bob's session ended")
	}
}
