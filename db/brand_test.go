package db_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/paylink"
)

// The logo is set, replaced and removed with the settings, in their
// transaction; each change is audited without the bytes, and the
// settings JSON never holds them.
func TestBrandLogoLifecycle(t *testing.T) {
	st := mustOpenDB(t)
	ctx := context.Background()
	admin := brandAdmin(t, st)
	if _, ok, err := st.BrandLogoInfo(ctx); err != nil || ok {
		t.Fatalf("fresh database: logo %v, %v", ok, err)
	}
	if _, err := st.BrandLogo(ctx); !errors.Is(err, db.ErrNotFound) {
		t.Fatalf("BrandLogo on none: %v", err)
	}
	png := []byte("\x89PNG fake bytes for storage")
	settings := db.Settings{CompanyName: "Acme Ltd", AccentColor: "#1f5fbf"}
	if err := st.SaveSettingsAndLogo(ctx, settings, db.LogoChange{Set: &db.Logo{ContentType: "image/png", Data: png}}, admin,
		db.AuditEntry{Action: "settings.change"}); err != nil {
		t.Fatal(err)
	}
	l, err := st.BrandLogo(ctx)
	if err != nil || l.ContentType != "image/png" || !bytes.Equal(l.Data, png) || l.ETag != db.LogoETag(png) {
		t.Fatalf("stored logo %+v, %v", l, err)
	}
	info, ok, err := st.BrandLogoInfo(ctx)
	if err != nil || !ok || info.Size != len(png) || info.ETag != l.ETag {
		t.Fatalf("info %+v %v %v", info, ok, err)
	}
	got, err := st.GetSettings(ctx)
	if err != nil || got.CompanyName != "Acme Ltd" || got.AccentColor != "#1f5fbf" {
		t.Fatalf("settings %+v, %v", got, err)
	}

	// Saving the settings alone keeps the logo.
	if err := st.SaveSettingsAndLogo(ctx, settings, db.LogoChange{}, admin, db.AuditEntry{Action: "settings.change"}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := st.BrandLogoInfo(ctx); !ok {
		t.Fatal("a save without a logo change removed the logo")
	}
	if err := st.SaveSettingsAndLogo(ctx, settings, db.LogoChange{Remove: true}, admin, db.AuditEntry{Action: "settings.change"}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := st.BrandLogoInfo(ctx); ok {
		t.Fatal("logo still there after removal")
	}

	entries, err := st.ListAudit(ctx, 20)
	if err != nil {
		t.Fatal(err)
	}
	var logo []string
	for _, e := range entries {
		if e.Action == "settings.logo" {
			logo = append(logo, e.Details)
		}
		if strings.Contains(e.Details, "PNG fake") {
			t.Errorf("audit entry %s holds the logo's bytes", e.Action)
		}
	}
	if len(logo) != 2 || logo[0] != "removed" || !strings.HasPrefix(logo[1], "set: image/png, 27 bytes") {
		t.Errorf("logo audit entries (newest first) %q", logo)
	}
}

// The table refuses what the handler would never store.
func TestBrandLogoTableRefusesOtherTypes(t *testing.T) {
	st := mustOpenDB(t)
	err := st.SaveSettingsAndLogo(context.Background(), db.Settings{}, db.LogoChange{Set: &db.Logo{ContentType: "text/html", Data: []byte("<p>")}}, brandAdmin(t, st),
		db.AuditEntry{Action: "settings.change"})
	if err == nil {
		t.Fatal("text/html logo stored")
	}
}

func brandAdmin(t *testing.T, st *db.Store) int64 {
	t.Helper()
	u, err := st.CreateUser(context.Background(), db.NewUser{Email: "brand@example.com", Name: "Brand", Role: paylink.RoleAdmin, PasswordHash: "x"}, db.AuditEntry{Action: "t"})
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}
