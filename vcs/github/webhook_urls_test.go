package github

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/atollhq/atoll/vcs"
)

// evilRepoJSON is a repository whose every URL points at an attacker's host.
func evilRepoJSON(owner, name string) string {
	return fmt.Sprintf(`{"id":1,"name":%q,"full_name":%q,"owner":{"login":%q},"default_branch":"main",
		"clone_url":"https://evil.example/steal.git","git_url":"git://evil.example/steal.git",
		"ssh_url":"git@evil.example:steal.git","html_url":"https://evil.example/steal",
		"url":"https://evil.example/api/repos/steal","mirror_url":"https://evil.example/mirror.git"}`, name, owner+"/"+name, owner)
}

// forgedPull is a pull_request payload from fork bob/infra-fork into
// acme/infra whose URLs all point at evil.example.
func forgedPull(action string) string {
	base, head := evilRepoJSON("acme", "infra"), evilRepoJSON("bob", "infra-fork")
	return fmt.Sprintf(`{"action":%q,"number":7,"pull_request":{"number":7,"state":"open","title":"Add web",
		"html_url":"https://evil.example/pull/7","url":"https://evil.example/api/pull/7","diff_url":"https://evil.example/7.diff",
		"user":{"login":"bob"},"head":{"ref":"feature","sha":"abc123","repo":%s},
		"base":{"ref":"main","sha":"def456","repo":%s}},"repository":%s,"sender":{"login":"bob"}}`, action, head, base, base)
}

// forgedComment is an issue_comment payload on #7 (a pull request when
// onPull) whose URLs all point at evil.example.
func forgedComment(onPull bool) string {
	pull := ""
	if onPull {
		pull = `,"pull_request":{"url":"https://evil.example/api/pull/7","html_url":"https://evil.example/pull/7"}`
	}
	return fmt.Sprintf(`{"action":"created","issue":{"number":7,"title":"Add web","user":{"login":"alice"},
		"html_url":"https://evil.example/issues/7","url":"https://evil.example/api/issues/7"%s},
		"comment":{"id":555,"body":"atoll apply","user":{"login":"bob"},"html_url":"https://evil.example/c/555"},
		"repository":%s,"sender":{"login":"bob"}}`, pull, evilRepoJSON("acme", "infra"))
}

// TestParseNeverTrustsPayloadURLs checks that clone and web URLs in parsed
// events are built from the parser's GitURL and the repositories' names,
// whatever URLs the payload carries.
func TestParseNeverTrustsPayloadURLs(t *testing.T) {
	t.Parallel()
	const gitURL = "https://ghe.example.com"
	base := vcs.Repo{Host: "ghe.example.com", Owner: "acme", Name: "infra", CloneURL: gitURL + "/acme/infra.git", DefaultBranch: "main"}
	fork := vcs.Repo{Host: "ghe.example.com", Owner: "bob", Name: "infra-fork", CloneURL: gitURL + "/bob/infra-fork.git", DefaultBranch: "main"}
	tests := []struct {
		name, event, body string
		want              vcs.Event
	}{
		{
			name: "pull request from a fork", event: "pull_request", body: forgedPull("opened"),
			want: vcs.Event{Kind: vcs.EventPullOpened, Repo: base, Sender: "bob", Pull: vcs.PullRequest{
				BaseRepo: base, HeadRepo: fork, Num: 7, HeadSHA: "abc123", HeadBranch: "feature", BaseBranch: "main",
				BaseSHA: "def456", Author: "bob", State: vcs.PullOpen, URL: gitURL + "/acme/infra/pull/7", Title: "Add web",
			}},
		},
		{
			name: "comment on a pull request", event: "issue_comment", body: forgedComment(true),
			want: vcs.Event{Kind: vcs.EventComment, Repo: base, Sender: "bob",
				Pull:    vcs.PullRequest{BaseRepo: base, Num: 7, Title: "Add web", Author: "alice", URL: gitURL + "/acme/infra/pull/7"},
				Comment: vcs.Comment{ID: 555, Body: "atoll apply", User: "bob"}},
		},
		{
			name: "comment on an issue", event: "issue_comment", body: forgedComment(false),
			want: vcs.Event{Kind: vcs.EventIssueComment, Repo: base, Sender: "bob",
				Pull:    vcs.PullRequest{BaseRepo: base, Num: 7, Title: "Add web", Author: "alice", URL: gitURL + "/acme/infra/issues/7"},
				Comment: vcs.Comment{ID: 555, Body: "atoll apply", User: "bob"}},
		},
		{
			name: "ping", event: "ping", body: `{"zen":"x","hook_id":1,"repository":` + evilRepoJSON("acme", "infra") + `}`,
			want: vcs.Event{Kind: vcs.EventPing, Repo: base},
		},
	}
	// A trailing slash on GitURL is not doubled.
	p := &WebhookParser{Secret: testSecret, Hostname: "ghe.example.com", GitURL: gitURL + "/"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := p.Parse(hook(tt.event, tt.body))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			tt.want.DeliveryID, tt.want.BodyDigest = "d-1", digest(tt.body)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
			if dump := fmt.Sprintf("%+v", got); strings.Contains(dump, "evil") {
				t.Errorf("a payload URL reached the event: %s", dump)
			}
		})
	}
}

// TestParseDefaultGitURL checks the URLs a parser without GitURL builds.
func TestParseDefaultGitURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		hostname, wantClone, wantPull string
	}{
		{"", "https://github.com/acme/infra.git", "https://github.com/acme/infra/pull/7"},
		{"ghe.example.com", "https://ghe.example.com/acme/infra.git", "https://ghe.example.com/acme/infra/pull/7"},
	}
	for _, tt := range tests {
		p := &WebhookParser{Secret: testSecret, Hostname: tt.hostname}
		ev, err := p.Parse(hook("pull_request", forgedPull("synchronize")))
		if err != nil {
			t.Fatalf("Parse with hostname %q: %v", tt.hostname, err)
		}
		if ev.Repo.CloneURL != tt.wantClone || ev.Pull.BaseRepo.CloneURL != tt.wantClone || ev.Pull.URL != tt.wantPull {
			t.Errorf("hostname %q: clone URLs %q %q, pull URL %q; want %q and %q",
				tt.hostname, ev.Repo.CloneURL, ev.Pull.BaseRepo.CloneURL, ev.Pull.URL, tt.wantClone, tt.wantPull)
		}
	}
}

// TestParseBadGitURL checks that a misconfigured GitURL is reported as such,
// not as the sender's fault.
func TestParseBadGitURL(t *testing.T) {
	t.Parallel()
	for _, gitURL := range []string{"ftp://ghe.example.com", "https://user:pass@ghe.example.com", "ghe.example.com", "https://ghe.example.com/?x=1", "%zz"} {
		p := &WebhookParser{Secret: testSecret, GitURL: gitURL}
		_, err := p.Parse(hook("pull_request", prPayload("opened", false)))
		if err == nil || errors.Is(err, vcs.ErrBadRequest) || errors.Is(err, vcs.ErrBadSignature) {
			t.Errorf("Parse with GitURL %q: error %v, want a configuration error", gitURL, err)
		}
		if err != nil && strings.Contains(err.Error(), "pass") {
			t.Errorf("error leaks the URL's password: %v", err)
		}
	}
}

// TestParseRepoNames checks that a repository (the event's, or a pull
// request's base or head) whose owner or name GitHub would not allow is a
// bad request, and that names GitHub allows parse.
func TestParseRepoNames(t *testing.T) {
	t.Parallel()
	// pull builds a pull_request payload with the given JSON for the event's, base and head repositories.
	pull := func(repo, base, head string) string {
		return fmt.Sprintf(`{"action":"opened","number":7,"pull_request":{"number":7,"state":"open",
			"head":{"ref":"f","sha":"a","repo":%s},"base":{"ref":"main","sha":"b","repo":%s}},"repository":%s}`, head, base, repo)
	}
	comment := func(repo string) string {
		return `{"action":"created","issue":{"number":7,"pull_request":{}},"comment":{"id":1,"body":"atoll plan","user":{"login":"bob"}},"repository":` + repo + `}`
	}
	good := repoJSON
	named := func(owner, name string) string {
		return fmt.Sprintf(`{"name":%q,"owner":{"login":%q}}`, name, owner)
	}
	long := func(c string, n int) string { return strings.Repeat(c, n) }
	tests := []struct {
		name, event, body string
		ok                bool
	}{
		{"good", "pull_request", pull(good, good, good), true},
		{"deleted fork", "pull_request", pull(good, good, "null"), true},
		{"no base repository in the pull request", "pull_request", pull(good, "null", good), true},
		{"names at their limits", "pull_request", pull(named("a"+long("b-", 19), long("x", 100)), good, good), true},
		{"dots and underscores in a name", "pull_request", pull(named("acme", ".a_b-c.d"), good, good), true},
		{"owner from full_name", "pull_request", pull(`{"name":"infra","full_name":"acme/infra"}`, good, good), true},

		{"no repository", "pull_request", `{"action":"opened","number":7,"pull_request":{"number":7}}`, false},
		{"no repository on a comment", "issue_comment", `{"action":"created","issue":{"number":7},"comment":{"id":1}}`, false},
		{"empty repository", "pull_request", pull(`{}`, good, good), false},
		{"owner with a slash", "pull_request", pull(named("acme/x", "infra"), good, good), false},
		{"owner with a dot", "pull_request", pull(named("evil.example", "infra"), good, good), false},
		{"owner starting with a dash", "pull_request", pull(named("-acme", "infra"), good, good), false},
		{"owner of 40 characters", "pull_request", pull(named(long("a", 40), "infra"), good, good), false},
		{"owner with a colon", "pull_request", pull(named("evil.example:443", "infra"), good, good), false},
		{"owner with an at sign", "pull_request", pull(named("token@evil", "infra"), good, good), false},
		{"unicode owner", "pull_request", pull(named("ácme", "infra"), good, good), false},
		{"name with a slash", "pull_request", pull(named("acme", "../../evil"), good, good), false},
		{"name ..", "pull_request", pull(named("acme", ".."), good, good), false},
		{"name .", "pull_request", pull(named("acme", "."), good, good), false},
		{"empty name", "pull_request", pull(named("acme", ""), good, good), false},
		{"name of 101 characters", "pull_request", pull(named("acme", long("x", 101)), good, good), false},
		{"name with a query", "pull_request", pull(named("acme", "infra?x=1"), good, good), false},
		{"name with a newline", "pull_request", pull(named("acme", "infra\n"), good, good), false},
		{"bad head repository", "pull_request", pull(good, good, named("bob", "fork/../../x")), false},
		{"bad base repository", "pull_request", pull(good, named("evil.example", "x"), good), false},
		{"bad repository of a comment", "issue_comment", comment(named("acme", "in fra")), false},
		{"bad repository of a ping", "ping", `{"zen":"x","repository":` + named("acme", "..") + `}`, false},
		{"bad repository of a closed pull request", "pull_request",
			strings.Replace(pull(named("acme", ".."), good, good), `"opened"`, `"closed"`, 1), false},
	}
	p := &WebhookParser{Secret: testSecret}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev, err := p.Parse(hook(tt.event, tt.body))
			if tt.ok {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if !strings.HasPrefix(ev.Repo.CloneURL, "https://github.com/") || !strings.HasSuffix(ev.Repo.CloneURL, ".git") {
					t.Errorf("clone URL = %q", ev.Repo.CloneURL)
				}
				return
			}
			if !errors.Is(err, vcs.ErrBadRequest) {
				t.Fatalf("Parse = %+v, %v; want ErrBadRequest", ev, err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error has a raw newline, which could forge log lines: %q", err)
			}
		})
	}
}

func TestParseDeletedForkKeepsHostOnly(t *testing.T) {
	t.Parallel()
	body := strings.Replace(forgedPull("opened"), `"repo":`+evilRepoJSON("bob", "infra-fork"), `"repo":null`, 1)
	ev, err := (&WebhookParser{Secret: testSecret}).Parse(hook("pull_request", body))
	if err != nil {
		t.Fatal(err)
	}
	if want := (vcs.Repo{Host: "github.com"}); ev.Pull.HeadRepo != want {
		t.Errorf("HeadRepo of a deleted fork = %+v, want %+v", ev.Pull.HeadRepo, want)
	}
}

// TestParseBodyDigest checks that BodyDigest is the SHA-256 of the raw body
// for every kind of event, including ignored ones and form-encoded bodies.
func TestParseBodyDigest(t *testing.T) {
	t.Parallel()
	form := "payload=" + url.QueryEscape(prPayload("opened", false))
	tests := []struct {
		name, event, contentType, body string
	}{
		{"pull request", "pull_request", "application/json", prPayload("opened", false)},
		{"comment", "issue_comment", "application/json", commentPayload("created", true, "bob")},
		{"ignored event", "push", "application/json", `{"ref":"refs/heads/main"}`},
		{"ping", "ping", "application/json", `{"zen":"x"}`},
		{"form encoded", "pull_request", "application/x-www-form-urlencoded", form},
	}
	p := &WebhookParser{Secret: testSecret}
	seen := map[string]string{}
	for _, tt := range tests {
		r := hook(tt.event, tt.body)
		r.Header.Set("Content-Type", tt.contentType)
		ev, err := p.Parse(r)
		if err != nil {
			t.Fatalf("%s: Parse: %v", tt.name, err)
		}
		if ev.BodyDigest != digest(tt.body) {
			t.Errorf("%s: BodyDigest = %q, want %q", tt.name, ev.BodyDigest, digest(tt.body))
		}
		if other, dup := seen[ev.BodyDigest]; dup {
			t.Errorf("%s and %s have the same digest", tt.name, other)
		}
		seen[ev.BodyDigest] = tt.name
	}

	// The same signed body under a new delivery ID has the same digest.
	r1, r2 := hook("pull_request", prPayload("opened", false)), hook("pull_request", prPayload("opened", false))
	r2.Header.Set("X-GitHub-Delivery", "d-2")
	ev1, err1 := p.Parse(r1)
	ev2, err2 := p.Parse(r2)
	if err1 != nil || err2 != nil || ev1.DeliveryID == ev2.DeliveryID || ev1.BodyDigest != ev2.BodyDigest {
		t.Errorf("replayed body: %q/%q digests %q/%q, errors %v %v", ev1.DeliveryID, ev2.DeliveryID, ev1.BodyDigest, ev2.BodyDigest, err1, err2)
	}
}

func TestGitBaseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		hostname, apiURL, want, wantErr string
	}{
		{hostname: "", apiURL: "", want: "https://github.com"},
		{hostname: "github.com", apiURL: "", want: "https://github.com"},
		{hostname: "github.com", apiURL: "https://api.github.com/", want: "https://github.com"},
		{hostname: "github.com", apiURL: "https://api.github.com", want: "https://github.com"},
		{hostname: "ghe.example.com", apiURL: "", want: "https://ghe.example.com"},
		{hostname: "ghe.example.com:8443", apiURL: "", want: "https://ghe.example.com:8443"},
		{hostname: "ghe.example.com", apiURL: "https://ghe.example.com/api/v3/", want: "https://ghe.example.com"},
		{hostname: "ghe.example.com", apiURL: "https://ghe.example.com/api/v3", want: "https://ghe.example.com"},
		{hostname: "github.com", apiURL: "http://127.0.0.1:8080/api/v3/", want: "http://127.0.0.1:8080"},
		{hostname: "ghe.example.com", apiURL: "https://proxy.example.com/ghe/api/v3/", want: "https://proxy.example.com/ghe"},

		{hostname: "github.com", apiURL: "http://127.0.0.1:8080/", wantErr: "cannot be derived"},
		{hostname: "github.com", apiURL: "http://api.github.com/", wantErr: "cannot be derived"},
		{hostname: "ghe.example.com", apiURL: "https://ghe.example.com/api/v4/", wantErr: "cannot be derived"},
		{hostname: "ghe.example.com", apiURL: "https://ghe.example.com/api/v3/x", wantErr: "cannot be derived"},
		{hostname: "github.com", apiURL: "ftp://x/api/v3/", wantErr: "want http(s)"},
		{hostname: "github.com", apiURL: "https://u:secret@x/api/v3/", wantErr: "must not carry credentials"},
		{hostname: "github.com", apiURL: "https://x/api/v3/?a=b", wantErr: "query or fragment"},
		{hostname: "github.com", apiURL: "%zz", wantErr: "not a URL"},
		{hostname: "ghe.example.com/x", apiURL: "", wantErr: "not a host name"},
		{hostname: "user@ghe.example.com", apiURL: "", wantErr: "not a host name"},
		{hostname: "ghe.example.com?x", apiURL: "", wantErr: "not a host name"},
	}
	for _, tt := range tests {
		got, err := GitBaseURL(tt.hostname, tt.apiURL)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("GitBaseURL(%q, %q) = %q, %v; want an error containing %q", tt.hostname, tt.apiURL, got, err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("GitBaseURL error leaks credentials: %v", err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("GitBaseURL(%q, %q) = %q, %v; want %q", tt.hostname, tt.apiURL, got, err, tt.want)
		}
	}
}

// TestClientGitURL checks that the client's clone and web URLs come from
// its configuration.
func TestClientGitURL(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		cfg  Config
		want string
	}{
		{Config{Token: "t"}, "https://github.com"},
		{Config{Token: "t", Hostname: "ghe.example.com"}, "https://ghe.example.com"},
		{Config{Token: "t", APIURL: "http://127.0.0.1:9/api/v3/"}, "http://127.0.0.1:9"},
	} {
		c, err := New(tt.cfg)
		if err != nil {
			t.Fatalf("New(%+v): %v", tt.cfg, err)
		}
		if got := c.GitURL(); got != tt.want {
			t.Errorf("GitURL() with %+v = %q, want %q", tt.cfg, got, tt.want)
		}
	}
}

// TestGetPullRequestRefusesBadNames checks that an API answer naming a
// repository GitHub could not have is an error, not a clone URL.
func TestGetPullRequestRefusesBadNames(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	f.mux.HandleFunc("/repos/acme/infra/pulls/7", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"number":7,"state":"open","head":{"repo":{"name":"..","owner":{"login":"bob"}}},
			"base":{"repo":{"name":"infra","owner":{"login":"acme"}}}}`)
	})
	if _, err := f.client.GetPullRequest(t.Context(), testRepo, 7); !errors.Is(err, errBadRepoName) {
		t.Errorf("GetPullRequest error = %v, want errBadRepoName", err)
	}
}
