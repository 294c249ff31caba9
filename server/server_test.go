package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atollhq/atoll/locking"
	"github.com/atollhq/atoll/locking/bolt"
	"github.com/atollhq/atoll/vcs"
)

func TestMatchAllowlist(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, id string
		want        bool
	}{
		{"*", "github.com/acme/infra", true},
		{"github.com/acme/*", "github.com/acme/infra", true},
		{"github.com/acme/*", "github.com/acme/team/infra", true}, // * crosses "/" as in Atlantis
		{"github.com/acme/*", "github.com/acmeco/infra", false},
		{"github.com/acme/infra", "github.com/acme/infra", true},
		{"github.com/acme/infra", "github.com/acme/infra2", false},
		{"GitHub.com/Acme/*", "github.com/acme/x", true},
		{"github.com/*/infra", "github.com/acme/infra", true},
		{"github.com/*/infra", "github.com/acme/infra-old", false},
		{"*/acme/*", "ghe.corp/acme/x", true},
		{"", "github.com/acme/infra", false},
	}
	for _, tt := range tests {
		if got := matchAllowlist(tt.pattern, tt.id); got != tt.want {
			t.Errorf("matchAllowlist(%q, %q) = %v, want %v", tt.pattern, tt.id, got, tt.want)
		}
	}
}

// fakeParser returns a fixed event or error.
type fakeParser struct {
	ev  vcs.Event
	err error
}

func (p fakeParser) Parse(*http.Request) (vcs.Event, error) { return p.ev, p.err }

// nopVCS fails every call: the tests below must not reach GitHub.
type nopVCS struct{ vcs.Client }

// nopRunner fails every call: the tests below must not run terraform.
type nopRunner struct{ Runner }

// countingDispatcher records dispatched work instead of running it.
type countingDispatcher struct {
	mu    sync.Mutex // guards works
	works []Work
}

func (d *countingDispatcher) Dispatch(_ context.Context, w Work) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.works = append(d.works, w)
	return nil
}

func newTestServer(t *testing.T, cfg Config) (*Server, locking.Store) {
	t.Helper()
	st, err := bolt.New(filepath.Join(t.TempDir(), "atoll.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg.Store, cfg.VCS, cfg.Runner = st, nopVCS{}, nopRunner{}
	if cfg.Parser == nil {
		cfg.Parser = fakeParser{err: errors.New("unused")}
	}
	if cfg.RepoAllowlist == nil {
		cfg.RepoAllowlist = []string{"github.com/acme/*"}
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, st
}

// do sends a request from a client on this machine (loopback address, Host
// localhost), as an admin's browser on the server would.
func do(t *testing.T, h http.Handler, method, target string, hdr map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader("{}"))
	req.RemoteAddr, req.Host = "127.0.0.1:40000", "localhost:4141"
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestEventsAnswers(t *testing.T) {
	t.Parallel()
	acme := vcs.Repo{Host: "github.com", Owner: "acme", Name: "infra"}
	other := vcs.Repo{Host: "github.com", Owner: "evil", Name: "infra"}
	tests := []struct {
		name     string
		parser   fakeParser
		want     int
		dispatch bool
	}{
		{"bad signature", fakeParser{err: vcs.ErrBadSignature}, http.StatusUnauthorized, false},
		{"malformed", fakeParser{err: vcs.ErrBadRequest}, http.StatusBadRequest, false},
		{"ping", fakeParser{ev: vcs.Event{Kind: vcs.EventPing}}, http.StatusOK, false},
		{"ignored", fakeParser{ev: vcs.Event{Kind: vcs.EventIgnored, Reason: "push"}}, http.StatusOK, false},
		{"not allowlisted", fakeParser{ev: vcs.Event{Kind: vcs.EventPullOpened, Repo: other, Pull: vcs.PullRequest{Num: 1}}}, http.StatusForbidden, false},
		{"pull opened", fakeParser{ev: vcs.Event{Kind: vcs.EventPullOpened, BodyDigest: "b1", Repo: acme, Pull: vcs.PullRequest{Num: 1}}}, http.StatusAccepted, true},
		{"chat comment", fakeParser{ev: vcs.Event{Kind: vcs.EventComment, Repo: acme, Comment: vcs.Comment{Body: "lgtm", CreatedAt: time.Now()}}}, http.StatusOK, false},
		{"command", fakeParser{ev: vcs.Event{Kind: vcs.EventComment, BodyDigest: "b2", Repo: acme, Comment: vcs.Comment{Body: "atoll plan", User: "bob", CreatedAt: time.Now()}}}, http.StatusAccepted, true},
		{"command from three days ago (a replay)", fakeParser{ev: vcs.Event{Kind: vcs.EventComment, BodyDigest: "b4", Repo: acme, Comment: vcs.Comment{Body: "atoll apply", User: "bob", CreatedAt: time.Now().Add(-72 * time.Hour)}}}, http.StatusOK, false},
		{"undated command", fakeParser{ev: vcs.Event{Kind: vcs.EventComment, BodyDigest: "b5", Repo: acme, Comment: vcs.Comment{Body: "atoll apply", User: "bob"}}}, http.StatusOK, false},
		{"bad command still answered", fakeParser{ev: vcs.Event{Kind: vcs.EventComment, BodyDigest: "b3", Repo: acme, Comment: vcs.Comment{Body: "atoll plan -d ../x", CreatedAt: time.Now()}}}, http.StatusAccepted, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := &countingDispatcher{}
			s, _ := newTestServer(t, Config{Parser: tt.parser, Dispatcher: d})
			rec := do(t, s.Handler(), http.MethodPost, "/events", nil)
			if rec.Code != tt.want {
				t.Errorf("POST /events = %d %q, want %d", rec.Code, rec.Body.String(), tt.want)
			}
			if got := len(d.works) > 0; got != tt.dispatch {
				t.Errorf("dispatched = %v, want %v", got, tt.dispatch)
			}
		})
	}
}

func TestWebAndAPIAuth(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, Config{WebUser: "admin", WebPassword: "pw", APISecret: "s3cret"})
	h := s.Handler()
	basic := func(u, p string) map[string]string {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.SetBasicAuth(u, p)
		return map[string]string{"Authorization": req.Header.Get("Authorization")}
	}
	tests := []struct {
		name, method, path string
		hdr                map[string]string
		want               int
	}{
		{"page without auth", http.MethodGet, "/", nil, http.StatusUnauthorized},
		{"page wrong password", http.MethodGet, "/", basic("admin", "nope"), http.StatusUnauthorized},
		{"page with auth", http.MethodGet, "/", basic("admin", "pw"), http.StatusOK},
		{"api without auth", http.MethodGet, "/api/locks", nil, http.StatusUnauthorized},
		{"api with token", http.MethodGet, "/api/locks", map[string]string{"X-Atoll-Token": "s3cret"}, http.StatusOK},
		{"api with bearer", http.MethodGet, "/api/locks", map[string]string{"Authorization": "Bearer s3cret"}, http.StatusOK},
		{"api with wrong token", http.MethodGet, "/api/locks", map[string]string{"X-Atoll-Token": "guess"}, http.StatusUnauthorized},
		{"api with basic auth", http.MethodGet, "/api/locks", basic("admin", "pw"), http.StatusOK},
		{"delete without auth", http.MethodDelete, "/locks/x", nil, http.StatusUnauthorized},
		{"audit without auth", http.MethodGet, "/audit", nil, http.StatusUnauthorized},
		{"audit api without auth", http.MethodGet, "/api/audit", nil, http.StatusUnauthorized},
		{"pull request page without auth", http.MethodGet, "/pulls/acme/infra/1", nil, http.StatusUnauthorized},
		{"pull request api with wrong token", http.MethodGet, "/api/pulls/acme/infra/1", map[string]string{"X-Atoll-Token": "guess"}, http.StatusUnauthorized},
		{"audit api with token", http.MethodGet, "/api/audit", map[string]string{"X-Atoll-Token": "s3cret"}, http.StatusOK},
		{"healthz is open", http.MethodGet, "/healthz", nil, http.StatusOK},
		{"metrics is open", http.MethodGet, "/metrics", nil, http.StatusOK},
	}
	for _, tt := range tests {
		if rec := do(t, h, tt.method, tt.path, tt.hdr); rec.Code != tt.want {
			t.Errorf("%s: %s %s = %d, want %d", tt.name, tt.method, tt.path, rec.Code, tt.want)
		}
	}
}

// Without credentials the pages and the API serve this machine only; remote
// clients, clients behind a proxy and DNS-rebound pages get 403. With
// credentials, they are needed; --api-secret alone does not open the pages.
func TestWebClosedByDefault(t *testing.T) {
	t.Parallel()
	type req struct {
		remote, host string
		hdr          map[string]string
	}
	local := req{remote: "127.0.0.1:5000", host: "localhost:4141"}
	ipv6 := req{remote: "[::1]:5000", host: "[::1]:4141"}
	remote := req{remote: "203.0.113.9:5000", host: "atoll.example.com"}
	proxied := req{remote: "127.0.0.1:5000", host: "localhost:4141", hdr: map[string]string{"X-Forwarded-For": "203.0.113.9"}}
	forwarded := req{remote: "127.0.0.1:5000", host: "localhost:4141", hdr: map[string]string{"Forwarded": "for=203.0.113.9"}}
	rebound := req{remote: "127.0.0.1:5000", host: "evil.example:4141"}
	ownURL := req{remote: "127.0.0.1:5000", host: "atoll.example.com"}
	withToken := req{remote: "203.0.113.9:5000", host: "atoll.example.com", hdr: map[string]string{"X-Atoll-Token": "s3cret"}}
	tests := []struct {
		name string
		cfg  Config
		path string
		r    req
		want int
	}{
		{"local page", Config{}, "/", local, http.StatusOK},
		{"local api over ipv6", Config{}, "/api/locks", ipv6, http.StatusOK},
		{"page by --atoll-url host", Config{AtollURL: "https://atoll.example.com"}, "/", ownURL, http.StatusOK},
		{"remote page", Config{}, "/", remote, http.StatusForbidden},
		{"remote api", Config{}, "/api/locks", remote, http.StatusForbidden},
		{"remote job page", Config{}, "/jobs/x", remote, http.StatusForbidden},
		{"remote audit page", Config{}, "/audit", remote, http.StatusForbidden},
		{"remote audit api", Config{}, "/api/audit", remote, http.StatusForbidden},
		{"remote pull request page", Config{}, "/pulls/acme/infra/1", remote, http.StatusForbidden},
		{"remote pull request api", Config{}, "/api/pulls/acme/infra/1", remote, http.StatusForbidden},
		{"remote drift page", Config{}, "/drift", remote, http.StatusForbidden},
		{"readyz stays open", Config{}, "/readyz", remote, http.StatusOK},
		{"api secret alone: audit api needs it", Config{APISecret: "s3cret"}, "/api/audit", remote, http.StatusUnauthorized},
		{"proxied page", Config{}, "/", proxied, http.StatusForbidden},
		{"forwarded api", Config{}, "/api/jobs", forwarded, http.StatusForbidden},
		{"dns rebinding", Config{}, "/", rebound, http.StatusForbidden},
		{"remote with --allow-open-web", Config{AllowOpenWeb: true}, "/", remote, http.StatusOK},
		{"healthz stays open", Config{}, "/healthz", remote, http.StatusOK},
		{"metrics stay open", Config{}, "/metrics", remote, http.StatusOK},
		{"api secret alone: remote page closed", Config{APISecret: "s3cret"}, "/", remote, http.StatusForbidden},
		{"api secret alone: remote api needs it", Config{APISecret: "s3cret"}, "/api/locks", remote, http.StatusUnauthorized},
		{"api secret alone: local api needs it too", Config{APISecret: "s3cret"}, "/api/locks", local, http.StatusUnauthorized},
		{"api secret alone: token opens the api", Config{APISecret: "s3cret"}, "/api/locks", withToken, http.StatusOK},
		{"api secret alone: token opens a page", Config{APISecret: "s3cret"}, "/jobs", withToken, http.StatusOK},
		{"basic auth: local page needs it", Config{WebUser: "admin", WebPassword: "pw"}, "/", local, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _ := newTestServer(t, tt.cfg)
			req := httptest.NewRequest(http.MethodGet, tt.path, nil)
			req.RemoteAddr, req.Host = tt.r.remote, tt.r.host
			for k, v := range tt.r.hdr {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Errorf("GET %s = %d %q, want %d", tt.path, rec.Code, rec.Body.String(), tt.want)
			}
			if rec.Code == http.StatusForbidden && tt.path != "/jobs/x" && !strings.Contains(rec.Body.String(), "--web-basic-auth") {
				t.Errorf("403 body does not say how to open the UI: %q", rec.Body.String())
			}
		})
	}
}

// Every state-changing endpoint refuses a cross-site browser request, even
// with valid credentials or from this machine.
func TestStateChangingEndpointsRefuseCrossSite(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, Config{})
	evil := map[string]string{"Origin": "https://evil.example", "Content-Type": "application/x-www-form-urlencoded"}
	for _, tt := range []struct{ method, path string }{
		{http.MethodPost, "/locks/unlock"},
		{http.MethodDelete, "/locks/" + url.PathEscape("github.com/acme/infra|net|default")},
		{http.MethodDelete, "/api/locks/" + url.PathEscape("github.com/acme/infra|net|default")},
		{http.MethodPost, "/api/drift/run"},
	} {
		if rec := do(t, s.Handler(), tt.method, tt.path, evil); rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "cross-site") {
			t.Errorf("cross-site %s %s = %d %q, want 403 cross-site", tt.method, tt.path, rec.Code, rec.Body.String())
		}
	}
}

func TestLocksAPI(t *testing.T) {
	t.Parallel()
	s, st := newTestServer(t, Config{})
	ctx := context.Background()
	lock := locking.Lock{Key: locking.Key{Repo: "github.com/acme/infra", Dir: "net work", Workspace: "default"}, Pull: 7, User: "alice",
		PullURL: "https://github.com/acme/infra/pull/7", Time: time.Now()}
	if err := st.Acquire(ctx, []locking.Lock{lock}); err != nil {
		t.Fatal(err)
	}
	if m := do(t, s.Handler(), http.MethodGet, "/metrics", nil).Body.String(); !strings.Contains(m, "atoll_locks_held 1") {
		t.Errorf("metrics lack atoll_locks_held 1")
	}
	rec := do(t, s.Handler(), http.MethodGet, "/api/locks", nil)
	var got struct{ Locks []LockView }
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || len(got.Locks) != 1 {
		t.Fatalf("GET /api/locks = %d %s (%v)", rec.Code, rec.Body, err)
	}
	if l := got.Locks[0]; l.Dir != "net work" || l.Pull != 7 || l.User != "alice" || l.ID != lock.ID() {
		t.Errorf("lock view = %+v", l)
	}
	page := do(t, s.Handler(), http.MethodGet, "/", nil).Body.String()
	for _, want := range []string{"net work", "#7", "alice", "Unlock", `href="https://github.com/acme/infra/pull/7"`} {
		if !strings.Contains(page, want) {
			t.Errorf("locks page lacks %q", want)
		}
	}
	if rec := do(t, s.Handler(), http.MethodDelete, "/locks/"+url.PathEscape("not-a-key"), nil); rec.Code != http.StatusBadRequest {
		t.Errorf("DELETE bad id = %d, want 400", rec.Code)
	}
	if rec := do(t, s.Handler(), http.MethodDelete, "/locks/"+url.PathEscape(lock.ID()), nil); rec.Code != http.StatusOK {
		t.Errorf("DELETE lock = %d %s, want 200", rec.Code, rec.Body)
	}
	if rec := do(t, s.Handler(), http.MethodDelete, "/locks/"+url.PathEscape(lock.ID()), nil); rec.Code != http.StatusNotFound {
		t.Errorf("DELETE released lock = %d, want 404", rec.Code)
	}
	if _, err := st.Get(ctx, lock.Key); !errors.Is(err, locking.ErrNotFound) {
		t.Errorf("lock still held after DELETE: %v", err)
	}
}

func TestLocalPullMutexSerialises(t *testing.T) {
	t.Parallel()
	m := newLocalPullMutex()
	var inside, maxInside int
	var mu sync.Mutex // guards inside and maxInside
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock, err := m.LockPull(context.Background(), "acme/infra#1")
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			inside++
			maxInside = max(maxInside, inside)
			mu.Unlock()
			time.Sleep(time.Millisecond)
			mu.Lock()
			inside--
			mu.Unlock()
			unlock()
		}()
	}
	wg.Wait()
	if maxInside != 1 {
		t.Errorf("%d jobs ran at once on one PR, want 1", maxInside)
	}
	if len(m.locks) != 0 {
		t.Errorf("mutex map not cleaned up: %d entries", len(m.locks))
	}
	ctx, cancel := context.WithCancel(context.Background())
	unlock, _ := m.LockPull(context.Background(), "k")
	cancel()
	if _, err := m.LockPull(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("LockPull with cancelled ctx = %v, want context.Canceled", err)
	}
	unlock()
}

// fakeTeams answers membership from a set of "org/slug/user".
type fakeTeams map[string]bool

func (f fakeTeams) TeamMember(_ context.Context, org, team, user string) (bool, error) {
	return f[org+"/"+team+"/"+user], nil
}

func TestInTeamResolvesOrg(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t, Config{Teams: fakeTeams{"acme/ops/bob": true, "platform-org/sre/bob": true}})
	r := &prRun{s: s, w: Work{Repo: vcs.Repo{Host: "github.com", Owner: "acme", Name: "infra"}, User: "bob"}, log: s.log}
	for team, want := range map[string]bool{"ops": true, "acme/ops": true, "sre": false, "platform-org/sre": true, "other/ops": false} {
		if got := r.inTeam(context.Background(), team); got != want {
			t.Errorf("inTeam(%q) = %v, want %v", team, got, want)
		}
	}
}

// nopDrift is a DriftDetector that the tick test never calls.
type nopDrift struct{ DriftDetector }

// TestScheduleDriftOncePerTick: two replicas sharing one delivery log queue
// one drift check per repository per schedule tick.
func TestScheduleDriftOncePerTick(t *testing.T) {
	t.Parallel()
	shared := newDeliverySet()
	repo := vcs.Repo{Host: "github.com", Owner: "acme", Name: "infra"}
	var ds []*countingDispatcher
	var servers []*Server
	for i := 0; i < 2; i++ {
		d := &countingDispatcher{}
		s, _ := newTestServer(t, Config{Dispatcher: d, Deliveries: shared, Drift: nopDrift{}, DriftRepos: []vcs.Repo{repo}})
		ds, servers = append(ds, d), append(servers, s)
	}
	tick := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	for _, s := range servers {
		if err := s.ScheduleDrift(context.Background(), repo, tick); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(ds[0].works) + len(ds[1].works); n != 1 {
		t.Fatalf("%d checks queued for one tick, want 1", n)
	}
	if err := servers[1].ScheduleDrift(context.Background(), repo, tick.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := len(ds[0].works) + len(ds[1].works); n != 2 {
		t.Errorf("%d checks queued after the next tick, want 2", n)
	}
	for _, d := range ds {
		for _, w := range d.works {
			if w.Kind != WorkDriftCheck || w.Repo != repo {
				t.Errorf("queued %+v", w)
			}
		}
	}
}

func TestCapLines(t *testing.T) {
	t.Parallel()
	lines := make([]string, 120)
	for i := range lines {
		lines[i] = "atoll.yaml:1:1: error"
	}
	got := capLines(lines, maxDetailLines)
	if len(got) != maxDetailLines+1 || got[maxDetailLines] != "... and 70 more" {
		t.Errorf("capLines(120 lines) = %d lines ending %q", len(got), got[len(got)-1])
	}
	if got := capLines(lines[:3], maxDetailLines); len(got) != 3 {
		t.Errorf("capLines(3 lines) = %d lines", len(got))
	}
}
