package server

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/atollhq/atoll/locking"
)

// The Locks page's unlock form refuses posts made from another site, which a
// browser would send with the user's basic auth credentials.
func TestFormUnlockRefusesCrossSite(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"no browser headers (script)", nil, http.StatusSeeOther},
		{"same origin by Host", map[string]string{"Origin": "http://atoll.internal:4141"}, http.StatusSeeOther},
		{"same origin by --atoll-url", map[string]string{"Origin": "https://atoll.example.com"}, http.StatusSeeOther},
		{"same-origin fetch metadata", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://atoll.internal:4141"}, http.StatusSeeOther},
		{"same-origin referer", map[string]string{"Referer": "http://atoll.internal:4141/"}, http.StatusSeeOther},
		{"cross-site origin", map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
		{"cross-site fetch metadata", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, http.StatusForbidden},
		{"same-site fetch metadata", map[string]string{"Sec-Fetch-Site": "same-site"}, http.StatusForbidden},
		{"null origin", map[string]string{"Origin": "null"}, http.StatusForbidden},
		{"cross-site referer", map[string]string{"Referer": "https://evil.example/page"}, http.StatusForbidden},
		{"look-alike host", map[string]string{"Origin": "http://atoll.internal:4141.evil.example"}, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, st := newTestServer(t, Config{AtollURL: "https://atoll.example.com", WebUser: "admin", WebPassword: "pw"})
			ctx := context.Background()
			lock := locking.Lock{Key: locking.Key{Repo: "github.com/acme/infra", Dir: "net", Workspace: "default"}, Pull: 7, User: "alice", Time: time.Now()}
			if err := st.Acquire(ctx, []locking.Lock{lock}); err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest(http.MethodPost, "http://atoll.internal:4141/locks/unlock", strings.NewReader("id="+url.QueryEscape(lock.ID())))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth("admin", "pw")
			for k, v := range tt.hdr {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Errorf("POST /locks/unlock = %d %q, want %d", rec.Code, rec.Body.String(), tt.want)
			}
			_, err := st.Get(ctx, lock.Key)
			if released := errors.Is(err, locking.ErrNotFound); released != (tt.want == http.StatusSeeOther) {
				t.Errorf("lock released = %v (Get: %v), want %v", released, err, tt.want == http.StatusSeeOther)
			}
		})
	}
}
