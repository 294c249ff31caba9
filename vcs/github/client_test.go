package github

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/atollhq/atoll/vcs"
)

const testToken = "ghp_testtoken_never_logged"

// testNow is the fixed clock of test clients.
var testNow = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// fakeGitHub is a test client wired to an httptest server whose handlers
// each test registers on mux, in the style of go-github's own tests.
type fakeGitHub struct {
	client *Client
	mux    *http.ServeMux
	server *httptest.Server
	logs   *syncBuffer

	mu     sync.Mutex
	sleeps []time.Duration // guarded by mu
}

func (f *fakeGitHub) slept() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.sleeps...)
}

// syncBuffer is a bytes.Buffer safe for concurrent writes by a logger.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// setup starts a fake GitHub Enterprise API under /api/v3/ and returns a
// client for it. cfg's zero fields get a token, the server's URL and a
// recording Sleep that returns at once.
func setup(t *testing.T, cfg Config) *fakeGitHub {
	t.Helper()
	f := &fakeGitHub{mux: http.NewServeMux(), logs: &syncBuffer{}}
	root := http.NewServeMux()
	root.Handle("/api/v3/", http.StripPrefix("/api/v3", f.mux))
	root.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request outside the API base URL: %s %s", r.Method, r.URL)
		http.Error(w, "not under /api/v3", http.StatusBadRequest)
	})
	f.server = httptest.NewServer(root)
	t.Cleanup(f.server.Close)

	if cfg.Token == "" && cfg.AppID == 0 {
		cfg.Token = testToken
	}
	if cfg.Hostname == "" {
		cfg.Hostname = "ghe.example.com"
	}
	cfg.APIURL = f.server.URL + "/api/v3" // no trailing slash: New adds it
	cfg.Logger = slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return testNow }
	}
	cfg.Sleep = func(ctx context.Context, d time.Duration) error {
		f.mu.Lock()
		f.sleeps = append(f.sleeps, d)
		f.mu.Unlock()
		return ctx.Err()
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.client = c
	t.Cleanup(func() {
		if logs := f.logs.String(); strings.Contains(logs, testToken) || strings.Contains(strings.ToLower(logs), "authorization") {
			t.Errorf("logs leak credentials:\n%s", logs)
		}
	})
	return f
}

// testMethod fails the test unless r uses method.
func testMethod(t *testing.T, r *http.Request, want string) {
	t.Helper()
	if r.Method != want {
		t.Errorf("method = %s, want %s", r.Method, want)
	}
}

// testBody fails the test unless r's body is want.
func testBody(t *testing.T, r *http.Request, want string) {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	if got := strings.TrimSpace(string(b)); got != want {
		t.Errorf("body = %s, want %s", got, want)
	}
}

var testRepo = vcs.Repo{Host: "ghe.example.com", Owner: "acme", Name: "infra"}

func TestNewConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no credentials", Config{}, "no credentials"},
		{"token and app", Config{Token: "t", AppID: 1}, "not both"},
		{"app without key", Config{AppID: 1, InstallationID: 2}, "needs an app ID"},
		{"bad app key", Config{AppID: 1, InstallationID: 2, AppKey: []byte("not a pem")}, "configure github app 1"},
		{"bad api url", Config{Token: "t", APIURL: "ftp://x/"}, "want http(s)"},
		{"api url with credentials", Config{Token: "t", APIURL: "https://u:p@x/"}, "must not carry credentials"},
		{"api url without /api/v3", Config{Token: "t", APIURL: "http://127.0.0.1:8080/"}, "git URL cannot be derived"},
		{"bad hostname", Config{Token: "t", Hostname: "ghe.example.com/evil"}, "not a host name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New() error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestAPIBaseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		host, override, want string
	}{
		{"github.com", "", "https://api.github.com/"},
		{"ghe.example.com", "", "https://ghe.example.com/api/v3/"},
		{"ghe.example.com", "https://ghe.example.com/api/v3", "https://ghe.example.com/api/v3/"},
		{"github.com", "http://127.0.0.1:8080/api/v3/", "http://127.0.0.1:8080/api/v3/"},
		{"github.com", "https://api.github.com", "https://api.github.com/"},
	}
	for _, tt := range tests {
		c, err := New(Config{Hostname: tt.host, APIURL: tt.override, Token: "t"})
		if err != nil {
			t.Fatalf("New(%q, %q): %v", tt.host, tt.override, err)
		}
		if got := c.gh.BaseURL.String(); got != tt.want {
			t.Errorf("BaseURL(%q, %q) = %q, want %q", tt.host, tt.override, got, tt.want)
		}
	}
	c, err := New(Config{Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Hostname() != "github.com" {
		t.Errorf("default Hostname() = %q", c.Hostname())
	}
}

func TestGetPullRequest(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	f.mux.HandleFunc("/repos/acme/infra/pulls/7", func(w http.ResponseWriter, r *http.Request) {
		testMethod(t, r, "GET")
		if got := r.Header.Get("Authorization"); got != "Bearer "+testToken {
			t.Errorf("Authorization = %q, want the bearer token", got)
		}
		fmt.Fprint(w, `{
			"number": 7, "state": "open", "title": "Add web", "html_url": "https://evil.example/acme/infra/pull/7",
			"user": {"login": "alice"}, "merged": false, "mergeable": true, "mergeable_state": "clean",
			"head": {"ref": "feature", "sha": "abc123", "repo": {"name": "infra-fork", "owner": {"login": "bob"},
				"clone_url": "https://evil.example/bob/infra-fork.git", "default_branch": "main"}},
			"base": {"ref": "main", "sha": "def456", "repo": {"name": "infra", "owner": {"login": "acme"},
				"clone_url": "https://evil.example/acme/infra.git", "default_branch": "main"}}
		}`)
	})
	got, err := f.client.GetPullRequest(context.Background(), testRepo, 7)
	if err != nil {
		t.Fatalf("GetPullRequest: %v", err)
	}
	yes := true
	// Clone and web URLs come from the client's configuration (the API URL
	// without /api/v3), never from the answer's clone_url and html_url.
	base := f.server.URL
	want := vcs.PullRequest{
		BaseRepo:       vcs.Repo{Host: "ghe.example.com", Owner: "acme", Name: "infra", CloneURL: base + "/acme/infra.git", DefaultBranch: "main"},
		HeadRepo:       vcs.Repo{Host: "ghe.example.com", Owner: "bob", Name: "infra-fork", CloneURL: base + "/bob/infra-fork.git", DefaultBranch: "main"},
		Num:            7,
		HeadSHA:        "abc123",
		HeadBranch:     "feature",
		BaseBranch:     "main",
		BaseSHA:        "def456",
		Author:         "alice",
		State:          vcs.PullOpen,
		URL:            base + "/acme/infra/pull/7",
		Title:          "Add web",
		Mergeable:      &yes,
		MergeableState: "clean",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GetPullRequest mismatch (-want +got):\n%s", diff)
	}
}

func TestGetPullRequestStates(t *testing.T) {
	t.Parallel()
	const mergeSHA = "5f0c6e2bb8a1a6f4a1e3f4d5c6b7a8e9f0a1b2c3"
	tests := []struct {
		name      string
		json      string
		wantState vcs.PullState
		wantMerge *bool
		wantSHA   string
	}{
		{"merged", `{"number":1,"state":"closed","merged":true,"merge_commit_sha":"` + mergeSHA + `"}`, vcs.PullMerged, nil, mergeSHA},
		{"merged_at only", `{"number":1,"state":"closed","merged_at":"2026-01-01T00:00:00Z"}`, vcs.PullMerged, nil, ""},
		{"closed", `{"number":1,"state":"closed","merged":false,"merge_commit_sha":"` + mergeSHA + `"}`, vcs.PullClosed, nil, ""},
		{"mergeable unknown", `{"number":1,"state":"open","mergeable":null}`, vcs.PullOpen, nil, ""},
		{"not mergeable", `{"number":1,"state":"open","mergeable":false,"mergeable_state":"dirty","merge_commit_sha":"` + mergeSHA + `"}`, vcs.PullOpen, new(bool), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t, Config{})
			f.mux.HandleFunc("/repos/acme/infra/pulls/1", func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, tt.json)
			})
			got, err := f.client.GetPullRequest(context.Background(), testRepo, 1)
			if err != nil {
				t.Fatal(err)
			}
			if got.State != tt.wantState || got.MergeSHA != tt.wantSHA {
				t.Errorf("State, MergeSHA = %q, %q; want %q, %q (a test merge commit of an open PR is not its merge)", got.State, got.MergeSHA, tt.wantState, tt.wantSHA)
			}
			if diff := cmp.Diff(tt.wantMerge, got.Mergeable); diff != "" {
				t.Errorf("Mergeable (-want +got):\n%s", diff)
			}
			if got.HeadRepo.Host != "ghe.example.com" {
				t.Errorf("HeadRepo of a PR without head repo = %+v, want Host set", got.HeadRepo)
			}
		})
	}
}

func TestNotFoundMapsToErrNotFound(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	notFound := func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"message":"Not Found"}`)
	}
	f.mux.HandleFunc("/repos/acme/infra/pulls/404", notFound)
	f.mux.HandleFunc("/repos/acme/infra/pulls/404/files", notFound)
	f.mux.HandleFunc("/repos/acme/infra/issues/comments/9", notFound)
	f.mux.HandleFunc("/repos/acme/infra/statuses/deadbeef", notFound)
	ctx := context.Background()
	calls := map[string]func() error{
		"GetPullRequest": func() error { _, err := f.client.GetPullRequest(ctx, testRepo, 404); return err },
		"ListChangedFiles": func() error {
			_, err := f.client.ListChangedFiles(ctx, testRepo, 404)
			return err
		},
		"UpdateComment": func() error { return f.client.UpdateComment(ctx, testRepo, 9, "x") },
		"SetStatus": func() error {
			return f.client.SetStatus(ctx, testRepo, vcs.Status{SHA: "deadbeef", State: vcs.StatusPending})
		},
	}
	for name, call := range calls {
		err := call()
		if !errors.Is(err, vcs.ErrNotFound) {
			t.Errorf("%s error = %v, want errors.Is vcs.ErrNotFound", name, err)
		}
		if err != nil && strings.Contains(err.Error(), testToken) {
			t.Errorf("%s error leaks the token: %v", name, err)
		}
	}
	if len(f.slept()) != 0 {
		t.Errorf("404s were retried: slept %v", f.slept())
	}
}

func TestTeamMember(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	f.mux.HandleFunc("/orgs/acme/teams/ops/memberships/", func(w http.ResponseWriter, r *http.Request) {
		testMethod(t, r, "GET")
		switch strings.TrimPrefix(r.URL.Path, "/orgs/acme/teams/ops/memberships/") {
		case "alice":
			fmt.Fprint(w, `{"state":"active","role":"member"}`)
		case "bob":
			fmt.Fprint(w, `{"state":"pending","role":"member"}`)
		case "boom":
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, `{"message":"boom"}`)
		default:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"message":"Not Found"}`)
		}
	})
	for user, want := range map[string]bool{"alice": true, "bob": false, "carol": false} {
		got, err := f.client.TeamMember(context.Background(), "acme", "ops", user)
		if err != nil {
			t.Fatalf("TeamMember(%s): %v", user, err)
		}
		if got != want {
			t.Errorf("TeamMember(%s) = %v, want %v", user, got, want)
		}
	}
	if _, err := f.client.TeamMember(context.Background(), "acme", "ops", "boom"); err == nil {
		t.Error("TeamMember on a 500 returned no error")
	}
}

func TestGitTokenWithPAT(t *testing.T) {
	t.Parallel()
	c, err := New(Config{Token: testToken, User: "atoll-bot"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.GitToken(context.Background())
	if err != nil || tok != testToken {
		t.Errorf("GitToken() = %q, %v; want the PAT", tok, err)
	}
	if c.GitUser() != "atoll-bot" {
		t.Errorf("GitUser() = %q, want atoll-bot", c.GitUser())
	}
}

// newServer starts an httptest server for h and returns its URL.
func newServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
