package main

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/paylinks/paylinks/db"
)

// opsEnv is a database with a few audited accounts, made through run.
func opsEnv(t *testing.T) (map[string]string, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ops.db")
	env := map[string]string{"PAYLINKS_DB": path}
	for _, email := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		if err := run(context.Background(), []string{"paylinks", "users", "create", "--email", email, "--name", "N", "--role", "viewer"},
			envFrom(env), strings.NewReader(""), io.Discard, io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	return env, path
}

func runOut(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), append([]string{"paylinks"}, args...), envFrom(env), strings.NewReader(""), &out, io.Discard)
	return out.String(), err
}

// editAuditRow changes one row behind paylinks' back, as someone with the
// file would: drop the append-only trigger, UPDATE, put the trigger back.
func editAuditRow(t *testing.T, path, set string, id int) {
	t.Helper()
	raw, err := sql.Open("sqlite", db.DSN(path, false))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, s := range []string{
		"DROP TRIGGER audit_log_no_update",
		"UPDATE audit_log SET " + set + " WHERE id = " + strconv.Itoa(id),
		"CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
	} {
		if _, err := raw.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func TestAuditVerifyNamesTheEditedRow(t *testing.T) {
	env, path := opsEnv(t)
	out, err := runOut(t, env, "audit", "verify")
	if err != nil || !strings.Contains(out, "audit chain ok: 3 rows") || !regexp.MustCompile(`newest row 3, hash [0-9a-f]{64}`).MatchString(out) {
		t.Fatalf("untouched chain: %v\n%s", err, out)
	}
	editAuditRow(t, path, "details = 'role=admin email=b@example.com'", 2)
	out, err = runOut(t, env, "audit", "verify")
	if err == nil || !strings.Contains(err.Error(), "audit chain broken at row 2:") || strings.Contains(out, "ok") {
		t.Fatalf("edited row 2: err %v, out %q; want the row named and a failure", err, out)
	}
	if _, err := runOut(t, env, "audit", "nonsense"); err == nil {
		t.Fatal("unknown audit subcommand accepted")
	}
}

func TestBackupCommand(t *testing.T) {
	env, _ := opsEnv(t)
	out := filepath.Join(t.TempDir(), "backups", "paylinks-2026-11-25.db") // the directory is made
	msg, err := runOut(t, env, "backup", "--out", out)
	if err != nil || !strings.Contains(msg, "backup written to "+out) || !strings.Contains(msg, "integrity ok") {
		t.Fatalf("backup: %v %q", err, msg)
	}
	// The copy is a working paylinks database: its chain verifies.
	restored := map[string]string{"PAYLINKS_DB": out}
	if msg, err := runOut(t, restored, "audit", "verify"); err != nil || !strings.Contains(msg, "audit chain ok: 3 rows") {
		t.Fatalf("verify the backup: %v %q", err, msg)
	}
	// The backup itself is audited in the live database.
	if msg, err := runOut(t, env, "audit", "verify"); err != nil || !strings.Contains(msg, "audit chain ok: 4 rows") {
		t.Fatalf("after the backup: %v %q", err, msg)
	}
	before, _ := os.ReadFile(out)
	if _, err := runOut(t, env, "backup", "--out", out); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second backup to the same file: %v, want a refusal", err)
	}
	if after, _ := os.ReadFile(out); !bytes.Equal(before, after) {
		t.Fatal("the existing backup was changed")
	}
	if _, err := runOut(t, env, "backup"); err == nil {
		t.Fatal("backup without --out accepted")
	}
	missing := map[string]string{"PAYLINKS_DB": filepath.Join(t.TempDir(), "nothing.db")}
	if _, err := runOut(t, missing, "backup", "--out", filepath.Join(t.TempDir(), "b.db")); err == nil || !strings.Contains(err.Error(), "no database") {
		t.Fatalf("backup of a missing database: %v", err)
	}
	if _, err := os.Stat(missing["PAYLINKS_DB"]); err == nil {
		t.Fatal("backup created the database it was asked to copy")
	}
}

func httpGet(t *testing.T, url, auth string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServeMetricsOnASeparateAddress(t *testing.T) {
	env := map[string]string{"PAYLINKS_ADDR": "127.0.0.1:0", "PAYLINKS_DB": filepath.Join(t.TempDir(), "m.db"),
		"PAYLINKS_METRICS_ADDR": "127.0.0.1:0"}
	base, out, stop := startServe(t, env)
	m := regexp.MustCompile(`metrics on (http://\S+/metrics)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no metrics address printed:\n%s", out.String())
	}
	if code, _ := httpGet(t, base+"/metrics", ""); code != http.StatusNotFound {
		t.Errorf("main address without a token: %d, want 404", code)
	}
	code, body := httpGet(t, m[1], "")
	if code != http.StatusOK || !strings.Contains(body, "paylinks_stablemint_breaker_state{state=\"closed\"} 1") ||
		!strings.Contains(body, "paylinks_sessions_active 0") || !strings.Contains(body, `route="/healthz"`) {
		t.Errorf("metrics address: %d\n%.2000s", code, body)
	}
	if code, _ := httpGet(t, strings.TrimSuffix(m[1], "/metrics")+"/login", ""); code != http.StatusNotFound {
		t.Errorf("the metrics address serves other paths: %d", code)
	}
	if err := stop(); err != nil {
		t.Fatalf("graceful shutdown: %v", err)
	}
	if _, err := http.Get(m[1]); err == nil {
		t.Error("the metrics server still answers after shutdown")
	}
}

func TestServeMetricsWithAToken(t *testing.T) {
	const token = "0123456789abcdef0123"
	env := map[string]string{"PAYLINKS_ADDR": "127.0.0.1:0", "PAYLINKS_DB": filepath.Join(t.TempDir(), "t.db"),
		"PAYLINKS_METRICS_TOKEN": token}
	base, out, stop := startServe(t, env)
	defer stop()
	if strings.Contains(out.String(), token) {
		t.Error("the token was printed")
	}
	if code, _ := httpGet(t, base+"/metrics", ""); code != http.StatusUnauthorized {
		t.Errorf("without the token: %d, want 401", code)
	}
	if code, body := httpGet(t, base+"/metrics", token); code != http.StatusOK || !strings.Contains(body, "paylinks_http_request_duration_seconds") {
		t.Errorf("with the token: %d", code)
	}
}

func TestMetricsConfiguration(t *testing.T) {
	cases := map[string]map[string]string{
		"PAYLINKS_METRICS_TOKEN": {"PAYLINKS_METRICS_TOKEN": "short"},
		"PAYLINKS_METRICS_ADDR":  {"PAYLINKS_METRICS_ADDR": "nope"},
	}
	for name, vars := range cases {
		t.Run(name, func(t *testing.T) {
			vars["PAYLINKS_DB"] = filepath.Join(t.TempDir(), "x.db")
			_, err := loadConfig(envFrom(vars))
			if err == nil || !strings.HasPrefix(err.Error(), name+":") {
				t.Fatalf("got %v, want an error naming %s", err, name)
			}
		})
	}
	same := envFrom(map[string]string{"PAYLINKS_ADDR": "127.0.0.1:9000", "PAYLINKS_METRICS_ADDR": "127.0.0.1:9000"})
	if _, err := loadConfig(same); err == nil {
		t.Fatal("metrics on the application's own address accepted")
	}
}

// The profiler is served only where asked, on loopback: PAYLINKS_PPROF_ADDR
// answers /debug/pprof/, PAYLINKS_ADDR never does, and a listener off
// loopback is refused. The WAL and checkpoint series are in /metrics.
func TestServeProfilerOnLoopbackOnly(t *testing.T) {
	env := map[string]string{"PAYLINKS_ADDR": "127.0.0.1:0", "PAYLINKS_DB": filepath.Join(t.TempDir(), "p.db"),
		"PAYLINKS_PPROF_ADDR": "127.0.0.1:0", "PAYLINKS_METRICS_ADDR": "127.0.0.1:0"}
	base, out, stop := startServe(t, env)
	defer stop()
	p := regexp.MustCompile(`profiler on (http://\S+/debug/pprof/)`).FindStringSubmatch(out.String())
	if p == nil {
		t.Fatalf("no profiler address printed:\n%s", out.String())
	}
	if code, body := httpGet(t, p[1], ""); code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Errorf("profiler index: %d", code)
	}
	if code, _ := httpGet(t, p[1]+"goroutine?debug=1", ""); code != http.StatusOK {
		t.Errorf("goroutine profile: %d", code)
	}
	if code, _ := httpGet(t, base+"/debug/pprof/", ""); code != http.StatusNotFound {
		t.Errorf("the application's address serves the profiler: %d", code)
	}
	m := regexp.MustCompile(`metrics on (http://\S+/metrics)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no metrics address printed:\n%s", out.String())
	}
	_, body := httpGet(t, m[1], "")
	for _, series := range []string{"paylinks_wal_bytes ", `paylinks_wal_checkpoints_total{mode="truncate",outcome="busy"}`, "paylinks_wal_checkpointed_pages_total "} {
		if !strings.Contains(body, series) {
			t.Errorf("no %s in /metrics", series)
		}
	}
	for _, bad := range []string{"0.0.0.0:6060", "192.0.2.1:6060", ":6060", "nope"} {
		if _, err := loadConfig(envFrom(map[string]string{"PAYLINKS_PPROF_ADDR": bad})); err == nil || !strings.HasPrefix(err.Error(), "PAYLINKS_PPROF_ADDR:") {
			t.Errorf("PAYLINKS_PPROF_ADDR=%s: %v, want it refused", bad, err)
		}
	}
	for v, ok := range map[string]bool{"64MiB": true, "1GiB": true, "512KiB": false, "64": false, "64MB": false, "32GiB": false} {
		_, err := loadConfig(envFrom(map[string]string{"PAYLINKS_WAL_LIMIT": v}))
		if (err == nil) != ok {
			t.Errorf("PAYLINKS_WAL_LIMIT=%s: %v", v, err)
		}
	}
}

// TestFiguresCheckAndRebuild: on seeded links the kept figures check out;
// a figure changed behind paylinks' back is named by check, and rebuild
// puts it right.
func TestFiguresCheckAndRebuild(t *testing.T) {
	env, path := opsEnv(t)
	if out, err := runOut(t, env, "seed", "--links", "300"); err != nil {
		t.Fatalf("seed: %v\n%s", err, out)
	}
	if out, err := runOut(t, env, "figures", "check"); err != nil || !strings.Contains(out, "figures ok") {
		t.Fatalf("check after seeding: %v\n%s", err, out)
	}
	raw, err := sql.Open("sqlite", db.DSN(path, false))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	// One figure of each kind: a status total and a median's histogram row.
	if _, err := raw.Exec(`UPDATE figures_status SET links = links + 5 WHERE status = 'paid' AND currency = 'EUR';
		UPDATE figures_pay_time SET links = links + 3 WHERE (day, currency, bucket) = (SELECT day, currency, bucket FROM figures_pay_time LIMIT 1)`); err != nil {
		t.Fatal(err)
	}
	out, err := runOut(t, env, "figures", "check")
	if err == nil || !regexp.MustCompile(`figures_status paid EUR links: kept \d+, links say \d+`).MatchString(out) ||
		!regexp.MustCompile(`figures_pay_time \d{4}-\d\d-\d\d [A-Z]{3} bucket \d+ \(.* to .*\) links: kept \d+, links say \d+`).MatchString(out) {
		t.Fatalf("check after tampering: err %v, out %q; want both rows named and a failure", err, out)
	}
	if out, err := runOut(t, env, "figures", "rebuild"); err != nil || !strings.Contains(out, "figures rebuilt") {
		t.Fatalf("rebuild: %v\n%s", err, out)
	}
	if out, err := runOut(t, env, "figures", "check"); err != nil || !strings.Contains(out, "figures ok") {
		t.Fatalf("check after the rebuild: %v\n%s", err, out)
	}
	if _, err := runOut(t, env, "figures", "nonsense"); err == nil {
		t.Fatal("unknown figures subcommand accepted")
	}
}
