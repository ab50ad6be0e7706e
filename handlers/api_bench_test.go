package handlers_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paylinks/paylinks/api"
	"github.com/paylinks/paylinks/app"
	"github.com/paylinks/paylinks/db"
	"github.com/paylinks/paylinks/paylink"
)

func reportQuantiles(b *testing.B, name string, ds []time.Duration) {
	s := slices.Clone(ds)
	slices.Sort(s)
	b.ReportMetric(float64(s[len(s)/2].Microseconds())/1000, name+"-p50-ms")
	b.ReportMetric(float64(s[len(s)*99/100].Microseconds())/1000, name+"-p99-ms")
}

// BenchmarkAPICreateLink creates links through POST /api/v1/links and,
// in the same run and alternating with it, through the new-link form, on
// a real SQLite file against the in-process sandbox over loopback. It
// reports each path's own overhead (the request minus the time inside the
// StableMint call) as p50/p99: the API's key check, rate limit, body and
// spec validation, Idempotency-Key read and answer, beside the form's
// session, CSRF and form parsing; both pay the link's two commits (its
// creating row, with the API's claim, and its completion). api-extra is
// the API's own overhead minus the form's, iteration by iteration. The
// floor is the disk's: two one-row write transactions (synchronous=FULL,
// an fsync each) on the same database, timed in the same iterations.
func BenchmarkAPICreateLink(b *testing.B) {
	var tc *timedClient
	e := newAPIEnv(b, func(cfg *app.Config, p *app.Parts) {
		tc = &timedClient{HostedSessions: p.StableMint}
		p.StableMint = tc
		cfg.APIRatePerMinute = 1_000_000
	})
	token := e.key("bench", allScopes, "")
	e.addUser("fin@example.com", paylink.RoleFinance)
	br := e.browser()
	br.login("fin@example.com")
	client := &http.Client{}
	keys, err := e.store.ListAPIKeys(context.Background())
	if err != nil || len(keys) == 0 {
		b.Fatal("no API key", err)
	}
	var apiTotal, apiOwn, formOwn, extra, floor []time.Duration
	i := 0
	for b.Loop() {
		b.StopTimer()
		i++
		d := draft("API-" + itoa(i))
		d.Amount = str("9.50")
		body, _ := json.Marshal(d)
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/api/v1/links", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "bench-"+itoa(i))
		tc.take()
		b.StartTimer()
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var sink bytes.Buffer
		_, _ = sink.ReadFrom(resp.Body)
		resp.Body.Close()
		took := time.Since(start)
		b.StopTimer()
		if resp.StatusCode != http.StatusCreated {
			b.Fatalf("API create: %d %s", resp.StatusCode, sink.String())
		}
		apiTotal = append(apiTotal, took)
		apiOwn = append(apiOwn, took-tc.take())

		form := br.fillLinkForm(validLink())
		form.Set("websiteReference", "FORM-"+itoa(i))
		tc.take()
		start = time.Now()
		p := br.post("/links", form)
		took = time.Since(start)
		if p.status() != http.StatusSeeOther {
			b.Fatalf("form create: %d", p.status())
		}
		formOwn = append(formOwn, took-tc.take())
		extra = append(extra, apiOwn[len(apiOwn)-1]-formOwn[len(formOwn)-1])

		start = time.Now()
		for range 2 {
			if err := e.store.TouchAPIKey(context.Background(), keys[0].ID, time.Now(), "192.0.2.1"); err != nil {
				b.Fatal(err)
			}
		}
		floor = append(floor, time.Since(start))
		b.StartTimer()
	}
	reportQuantiles(b, "api-request", apiTotal)
	reportQuantiles(b, "api-own", apiOwn)
	reportQuantiles(b, "form-own", formOwn)
	reportQuantiles(b, "api-extra", extra)
	reportQuantiles(b, "two-commits", floor)
}

// BenchmarkAPIGetByReference measures GET /api/v1/stablemint-references/
// {ref} through the real router in process (httptest, as the list and
// search figures) on the bench database: the key check, rate limit,
// validation, the indexed lookup, the JSON and the read's audit entry.
// The baseline, in the same run, is the store's lookup and the JSON alone.
func BenchmarkAPIGetByReference(b *testing.B) {
	st := benchDB(b)
	ctx := context.Background()
	hashKey := bytes.Repeat([]byte{9}, 32)
	key := bytes.Repeat([]byte{7}, 32)
	_, client := newProviderTB(b)
	a, err := app.New(ctx, app.Config{BaseURL: &url.URL{Scheme: "http", Host: "127.0.0.1"}, SessionKeys: [][]byte{key, key},
		HashParams: testParams, APIKeyHashKey: hashKey, APIRatePerMinute: 10_000_000},
		app.Parts{Store: st, StableMint: client, Logger: testLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(a.Close)
	// One fixed key, made once in the shared bench database.
	token := "pl_live_" + strings.Repeat("B", 43)
	m := hmac.New(sha256.New, hashKey)
	m.Write([]byte(token))
	hash := hex.EncodeToString(m.Sum(nil))
	if _, err := st.APIKeyByHash(ctx, hash); err != nil {
		admin, err := st.CreateUser(ctx, db.NewUser{Email: "api-bench-" + strconv.FormatInt(time.Now().UnixNano(), 10) + "@bench.invalid", Name: "API bench",
			Role: paylink.RoleAdmin, PasswordHash: "!"}, db.AuditEntry{Action: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := st.CreateAPIKey(ctx, db.NewAPIKey{Name: "bench", Prefix: token[:12], SecretHash: hash,
			Scopes: []string{"links:read"}, CreatedBy: admin.ID}, db.AuditEntry{Action: "bench"}); err != nil {
			b.Fatal(err)
		}
	}
	total, err := st.CountLinks(ctx)
	if err != nil {
		b.Fatal(err)
	}
	// 256 links spread over the table, each read once through both paths
	// before the timing: the figure is the steady state of a database in
	// the page cache (the cold group measures first reads from disk).
	var refs []string
	for i := 1; len(refs) < 256 && i <= 8192; i++ {
		l, err := st.LinkByID(ctx, int64(i)*int64(total)/8193+1)
		if err == nil && l.SMReference != "" {
			refs = append(refs, l.SMReference)
		}
	}
	if len(refs) == 0 {
		b.Fatal("no StableMint references in the bench database")
	}
	viaRouter := func(ref string) time.Duration {
		req := httptest.NewRequest(http.MethodGet, "/api/v1/stablemint-references/"+url.PathEscape(ref), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		start := time.Now()
		a.Handler.ServeHTTP(rec, req)
		took := time.Since(start)
		if rec.Code != http.StatusOK {
			b.Fatalf("GET by reference: %d %s", rec.Code, rec.Body)
		}
		return took
	}
	direct := func(ref string) time.Duration {
		start := time.Now()
		l, err := st.LinkBySMReference(ctx, ref)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := json.Marshal(api.LinkOf(l)); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	for _, ref := range refs {
		viaRouter(ref)
		direct(ref)
	}
	var handler, baseline []time.Duration
	i := 0
	for b.Loop() {
		ref := refs[i%len(refs)]
		// The two take turns going first, so neither always finds the
		// other's pages freshly read.
		if i%2 == 0 {
			handler = append(handler, viaRouter(ref))
			baseline = append(baseline, direct(ref))
		} else {
			baseline = append(baseline, direct(ref))
			handler = append(handler, viaRouter(ref))
		}
		i++
	}
	reportQuantiles(b, "handler", handler)
	reportQuantiles(b, "baseline", baseline)
}
