package handlers

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"sync"

	qrcode "github.com/skip2/go-qrcode"
)

// qrCacheSize bounds the QR images kept in memory: a 256-pixel PNG is
// about 1 KiB, so a few hundred links' images cost well under a MiB.
const qrCacheSize = 512

// qrVersion names a checkout URL's QR image: a hash of the URL. It is the
// image's ETag and rides in the image's address (?v=), so that a link
// whose checkout URL changes (a retry mints a new one) gets a new address
// while an unchanged one stays cached in the browser.
func qrVersion(checkoutURL string) string {
	sum := sha256.Sum256([]byte(checkoutURL))
	return hex.EncodeToString(sum[:12])
}

// qrCache keeps the PNG of each (link, checkout URL) recently shown, least
// recently used out first: encoding one costs milliseconds of CPU, and a
// link's page and its QR image are opened again and again.
type qrCache struct {
	mu    sync.Mutex
	order *list.List // of *qrEntry, most recently used first
	byKey map[qrKey]*list.Element
}

type qrKey struct {
	link    int64
	version string
}

type qrEntry struct {
	key qrKey
	png []byte
}

// png returns the QR image of url for link, encoding it on a miss.
func (q *qrCache) png(link int64, url, version string) ([]byte, error) {
	k := qrKey{link, version}
	q.mu.Lock()
	if q.byKey == nil {
		q.order, q.byKey = list.New(), map[qrKey]*list.Element{}
	}
	if el, ok := q.byKey[k]; ok {
		q.order.MoveToFront(el)
		png := el.Value.(*qrEntry).png
		q.mu.Unlock()
		return png, nil
	}
	q.mu.Unlock()
	// Encoded outside the lock; two requests for one new image may both
	// encode it, and the second simply replaces the first.
	png, err := qrcode.Encode(url, qrcode.Medium, 256)
	if err != nil {
		return nil, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if el, ok := q.byKey[k]; ok {
		q.order.MoveToFront(el)
		return png, nil
	}
	q.byKey[k] = q.order.PushFront(&qrEntry{key: k, png: png})
	for q.order.Len() > qrCacheSize {
		old := q.order.Back()
		q.order.Remove(old)
		delete(q.byKey, old.Value.(*qrEntry).key)
	}
	return png, nil
}

// len is how many images are kept.
func (q *qrCache) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.order == nil {
		return 0
	}
	return q.order.Len()
}
