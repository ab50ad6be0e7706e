package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/PuerkitoBio/goquery"
)

// liveEvery is how often an open list asks for its live updates: app.js's
// setInterval (static/js/app.js, "Live rows").
const liveEvery = 10 * time.Second

// liveList is one open Links tab left on screen (-live-lists): a tab of
// one of the users' browsers, sharing that user's session (cookie jar).
// Once its user has signed in it opens the list's first page, then, as
// app.js does while the tab is shown, asks GET /links/live every
// cfg.LiveEvery with the rows on screen (id:version, in page order) and
// the page's since; a changed row (200) takes its new version, as app.js
// puts it in place of the old one. A question still unanswered when the
// next is due is not doubled (app.js's busy flag: the ticker drops the
// tick). Its requests are reported under their own routes, apart from the
// users'.
type liveList struct {
	tab   *vuser // the owner's client and session; its own rng
	owner *vuser
	every time.Duration
	live  string   // the page's data-list-live URL
	rows  []string // id:version of the rows on screen, in order
}

func newLiveList(owner *vuser, rng *rand.Rand, every time.Duration) *liveList {
	tab := *owner // the same client (jar, transport), recorder, window
	tab.rng = rng
	tab.lastRows, tab.pendingTotal = nil, ""
	return &liveList{tab: &tab, owner: owner, every: every}
}

// run waits for the owner's sign-in, opens the list at a random moment
// within one interval (tabs are not opened in step), then polls until
// the window ends.
func (l *liveList) run(ctx context.Context) {
	select {
	case <-l.owner.signedIn:
	case <-ctx.Done():
		return
	}
	if !l.tab.pause(ctx, time.Duration(l.tab.rng.Int64N(int64(l.every)))) {
		return
	}
	if err := l.open(ctx); err != nil {
		return
	}
	t := time.NewTicker(l.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !time.Now().Before(l.tab.end) {
			return
		}
		if err := l.poll(ctx); err != nil && (err == errWindowOver || ctx.Err() != nil) {
			return
		}
	}
}

// open loads the list's first page and keeps its live URL and rows.
func (l *liveList) open(ctx context.Context) error {
	_, err := l.tab.do(ctx, rLiveOpen, "", http.MethodGet, "/links", nil, nil, func(r response) string {
		if r.status != http.StatusOK {
			return fmt.Sprintf("want 200, got %d", r.status)
		}
		doc, err := goquery.NewDocumentFromReader(bytes.NewReader(r.body))
		if err != nil {
			return "unparsable page"
		}
		l.live, _ = doc.Find("[data-list-live]").Attr("data-list-live")
		if l.live == "" {
			return "no data-list-live URL in the list"
		}
		l.rows = l.rows[:0]
		doc.Find("[data-list-live] tr[data-id]").Each(func(_ int, s *goquery.Selection) {
			l.rows = append(l.rows, s.AttrOr("data-id", "")+":"+s.AttrOr("data-version", ""))
		})
		if len(l.rows) == 0 {
			return "no rows in the list"
		}
		return ""
	})
	return err
}

// poll asks once, as app.js's poll does, and applies the answer's rows.
func (l *liveList) poll(ctx context.Context) error {
	path := l.live + "&rows=" + url.QueryEscape(strings.Join(l.rows, ","))
	hdr := http.Header{"Accept": {"text/html"}}
	_, err := l.tab.do(ctx, rLive, "", http.MethodGet, path, nil, hdr, func(r response) string {
		switch r.status {
		case http.StatusNoContent:
			return ""
		case http.StatusOK:
		default:
			return fmt.Sprintf("want 200 or 204, got %d", r.status)
		}
		doc, err := goquery.NewDocumentFromReader(bytes.NewReader(r.body))
		if err != nil {
			return "unparsable answer"
		}
		update := doc.Find("[data-list-update]")
		if update.Length() == 0 {
			return "200 without data-list-update"
		}
		update.Find("tr[data-id]").Each(func(_ int, s *goquery.Selection) {
			id := s.AttrOr("data-id", "")
			for i, row := range l.rows {
				if strings.HasPrefix(row, id+":") {
					l.rows[i] = id + ":" + s.AttrOr("data-version", "")
				}
			}
		})
		return ""
	})
	return err
}
