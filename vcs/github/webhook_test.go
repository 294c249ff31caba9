package github

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/atollhq/atoll/vcs"
)

var testSecret = []byte("webhook-secret")

const repoJSON = `{"id":1,"name":"infra","full_name":"acme/infra","owner":{"login":"acme"},
	"clone_url":"https://github.com/acme/infra.git","default_branch":"main"}`

var hookRepo = vcs.Repo{Host: "github.com", Owner: "acme", Name: "infra", CloneURL: "https://github.com/acme/infra.git", DefaultBranch: "main"}

func prPayload(action string, merged bool) string {
	state := "open"
	if action == "closed" {
		state = "closed"
	}
	return fmt.Sprintf(`{"action":%q,"number":7,"pull_request":{"number":7,"state":%q,"merged":%t,"title":"Add web",
		"html_url":"https://github.com/acme/infra/pull/7","user":{"login":"alice"},"mergeable":null,
		"head":{"ref":"feature","sha":"abc123","repo":%s},
		"base":{"ref":"main","sha":"def456","repo":%s}},
		"repository":%s,"sender":{"login":"alice"}}`, action, state, merged, repoJSON, repoJSON, repoJSON)
}

func commentPayload(action string, onPull bool, user string) string {
	pull := ""
	if onPull {
		pull = `,"pull_request":{"url":"https://api.github.com/repos/acme/infra/pulls/7","html_url":"https://github.com/acme/infra/pull/7"}`
	}
	html := "https://github.com/acme/infra/issues/7"
	if onPull {
		html = "https://github.com/acme/infra/pull/7"
	}
	return fmt.Sprintf(`{"action":%q,"issue":{"number":7,"title":"Add web","user":{"login":"alice"},"state":"open","html_url":%q%s},
		"comment":{"id":555,"body":"atoll plan -d network","user":{"login":%q}},
		"repository":%s,"sender":{"login":%q}}`, action, html, pull, user, repoJSON, user)
}

const (
	sha1Hex = "1111111111111111111111111111111111111111"
	sha2Hex = "2222222222222222222222222222222222222222"
)

func mergeGroupPayload(action, headRef string) string {
	return fmt.Sprintf(`{"action":%q,"merge_group":{"head_sha":%q,"head_ref":%q,"base_sha":%q,"base_ref":"refs/heads/main"},
		"repository":%s,"sender":{"login":"alice"}}`, action, sha2Hex, headRef, sha1Hex, repoJSON)
}

func checkRunPayload(action, externalID string, pull int) string {
	pulls := "[]"
	if pull > 0 {
		pulls = fmt.Sprintf(`[{"number":%d}]`, pull)
	}
	return fmt.Sprintf(`{"action":%q,"check_run":{"id":9,"head_sha":%q,"external_id":"%s","pull_requests":%s},
		"repository":%s,"sender":{"login":"alice"}}`, action, sha2Hex, externalID, pulls, repoJSON)
}

func sign(secret []byte, body string) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(body))
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// digest is the hex SHA-256 of body, as Parse sets vcs.Event.BodyDigest.
func digest(body string) string {
	sum := sha256.Sum256([]byte(body))
	return hex.EncodeToString(sum[:])
}

// hook builds a signed webhook request.
func hook(event, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/events", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-GitHub-Event", event)
	r.Header.Set("X-GitHub-Delivery", "d-1")
	r.Header.Set("X-Hub-Signature-256", sign(testSecret, body))
	return r
}

func TestParseEvents(t *testing.T) {
	t.Parallel()
	webPull := vcs.PullRequest{
		BaseRepo: hookRepo, HeadRepo: hookRepo, Num: 7, HeadSHA: "abc123", HeadBranch: "feature",
		BaseBranch: "main", BaseSHA: "def456", Author: "alice", State: vcs.PullOpen,
		URL: "https://github.com/acme/infra/pull/7", Title: "Add web",
	}
	withState := func(p vcs.PullRequest, s vcs.PullState) vcs.PullRequest { p.State = s; return p }
	commentPull := vcs.PullRequest{BaseRepo: hookRepo, Num: 7, Title: "Add web", Author: "alice", URL: "https://github.com/acme/infra/pull/7"}
	issuePull := commentPull
	issuePull.URL = "https://github.com/acme/infra/issues/7"
	comment := vcs.Comment{ID: 555, Body: "atoll plan -d network", User: "bob"}

	tests := []struct {
		name  string
		event string
		body  string
		want  vcs.Event
	}{
		{
			name: "ping", event: "ping",
			body: `{"zen":"Keep it logically awesome.","hook_id":1,"repository":` + repoJSON + `,"sender":{"login":"alice"}}`,
			want: vcs.Event{Kind: vcs.EventPing, Repo: hookRepo, Sender: "alice"},
		},
		{
			name: "app ping without repository", event: "ping",
			body: `{"zen":"Design for failure.","hook_id":2}`,
			want: vcs.Event{Kind: vcs.EventPing},
		},
		{
			name: "opened", event: "pull_request", body: prPayload("opened", false),
			want: vcs.Event{Kind: vcs.EventPullOpened, Repo: hookRepo, Pull: webPull, Sender: "alice"},
		},
		{
			name: "reopened", event: "pull_request", body: prPayload("reopened", false),
			want: vcs.Event{Kind: vcs.EventPullOpened, Repo: hookRepo, Pull: webPull, Sender: "alice"},
		},
		{
			name: "synchronize", event: "pull_request", body: prPayload("synchronize", false),
			want: vcs.Event{Kind: vcs.EventPullUpdated, Repo: hookRepo, Pull: webPull, Sender: "alice"},
		},
		{
			name: "closed merged", event: "pull_request", body: prPayload("closed", true),
			want: vcs.Event{Kind: vcs.EventPullClosed, Repo: hookRepo, Pull: withState(webPull, vcs.PullMerged), Sender: "alice"},
		},
		{
			name: "closed unmerged", event: "pull_request", body: prPayload("closed", false),
			want: vcs.Event{Kind: vcs.EventPullClosed, Repo: hookRepo, Pull: withState(webPull, vcs.PullClosed), Sender: "alice"},
		},
		{
			name: "labeled ignored", event: "pull_request", body: prPayload("labeled", false),
			want: vcs.Event{Repo: hookRepo, Pull: webPull, Sender: "alice", Reason: `pull_request action "labeled" is not handled`},
		},
		{
			name: "comment on pull request", event: "issue_comment", body: commentPayload("created", true, "bob"),
			want: vcs.Event{Kind: vcs.EventComment, Repo: hookRepo, Pull: commentPull, Comment: comment, Sender: "bob"},
		},
		{
			name: "comment on an issue", event: "issue_comment", body: commentPayload("created", false, "bob"),
			want: vcs.Event{Kind: vcs.EventIssueComment, Repo: hookRepo, Pull: issuePull, Comment: comment, Sender: "bob"},
		},
		{
			name: "edited comment on an issue", event: "issue_comment", body: commentPayload("edited", false, "bob"),
			want: vcs.Event{Repo: hookRepo, Pull: issuePull, Comment: comment, Sender: "bob", Reason: `issue_comment action "edited" is not handled`},
		},
		{
			name: "bot's own comment on an issue", event: "issue_comment", body: commentPayload("created", false, "atoll-bot"),
			want: vcs.Event{Repo: hookRepo, Pull: issuePull, Comment: vcs.Comment{ID: 555, Body: "atoll plan -d network", User: "atoll-bot"},
				Sender: "atoll-bot", Reason: "comment by the bot user itself"},
		},
		{
			name: "edited comment", event: "issue_comment", body: commentPayload("edited", true, "bob"),
			want: vcs.Event{Repo: hookRepo, Pull: commentPull, Comment: comment, Sender: "bob", Reason: `issue_comment action "edited" is not handled`},
		},
		{
			name: "deleted comment", event: "issue_comment", body: commentPayload("deleted", true, "bob"),
			want: vcs.Event{Repo: hookRepo, Pull: commentPull, Comment: comment, Sender: "bob", Reason: `issue_comment action "deleted" is not handled`},
		},
		{
			name: "bot's own comment", event: "issue_comment", body: commentPayload("created", true, "Atoll-Bot"),
			want: vcs.Event{Repo: hookRepo, Pull: commentPull, Comment: vcs.Comment{ID: 555, Body: "atoll plan -d network", User: "Atoll-Bot"},
				Sender: "Atoll-Bot", Reason: "comment by the bot user itself"},
		},
		{
			name: "merge group", event: "merge_group", body: mergeGroupPayload("checks_requested", "refs/heads/gh-readonly-queue/main/pr-7-"+sha1Hex),
			want: vcs.Event{Kind: vcs.EventMergeGroup, Repo: hookRepo, Sender: "alice", Pull: vcs.PullRequest{BaseRepo: hookRepo, HeadRepo: hookRepo,
				HeadSHA: sha2Hex, HeadBranch: "gh-readonly-queue/main/pr-7-" + sha1Hex, BaseSHA: sha1Hex, BaseBranch: "main", State: vcs.PullOpen}},
		},
		{
			name: "merge group destroyed", event: "merge_group", body: mergeGroupPayload("destroyed", "refs/heads/q"),
			want: vcs.Event{Repo: hookRepo, Sender: "alice", Reason: `merge_group action "destroyed" is not handled`},
		},
		{
			name: "check run rerequested", event: "check_run", body: checkRunPayload("rerequested", `atoll:{\"c\":\"plan\"}`, 7),
			want: vcs.Event{Kind: vcs.EventCheckRerun, Repo: hookRepo, Sender: "alice", CheckExternalID: `atoll:{"c":"plan"}`,
				Pull: vcs.PullRequest{BaseRepo: hookRepo, Num: 7, HeadSHA: sha2Hex, URL: "https://github.com/acme/infra/pull/7"}},
		},
		{
			name: "check run of another app", event: "check_run", body: checkRunPayload("rerequested", "ci-42", 7),
			want: vcs.Event{Repo: hookRepo, Sender: "alice", Reason: "check_run of another app"},
		},
		{
			name: "check run completed", event: "check_run", body: checkRunPayload("completed", "atoll:x", 7),
			want: vcs.Event{Repo: hookRepo, Sender: "alice", Reason: `check_run action "completed" is not handled`},
		},
		{
			name: "check run without a pull request", event: "check_run", body: checkRunPayload("rerequested", "atoll:x", 0),
			want: vcs.Event{Repo: hookRepo, Sender: "alice", Reason: "check_run not on a pull request"},
		},
		{
			name: "other event", event: "push", body: `{"ref":"refs/heads/main","repository":` + repoJSON + `}`,
			want: vcs.Event{Reason: `event "push" is not handled`},
		},
		{
			name: "pull_request without pull request", event: "pull_request", body: `{"action":"opened","repository":` + repoJSON + `}`,
			want: vcs.Event{Repo: hookRepo, Pull: vcs.PullRequest{}, Reason: "pull_request event without a pull request"},
		},
	}
	p := &WebhookParser{Secret: testSecret, BotUser: "atoll-bot"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := p.Parse(hook(tt.event, tt.body))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			tt.want.DeliveryID = "d-1"
			tt.want.BodyDigest = digest(tt.body)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	body := prPayload("opened", false)
	mac1 := hmac.New(sha1.New, testSecret)
	mac1.Write([]byte(body))
	tests := []struct {
		name    string
		secret  []byte
		req     func() *http.Request
		wantErr error // nil means success
	}{
		{"good signature", testSecret, func() *http.Request { return hook("pull_request", body) }, nil},
		{"bad signature", testSecret, func() *http.Request {
			r := hook("pull_request", body)
			r.Header.Set("X-Hub-Signature-256", sign([]byte("other"), body))
			return r
		}, vcs.ErrBadSignature},
		{"tampered body", testSecret, func() *http.Request {
			r := hook("pull_request", body)
			r.Body = io.NopCloser(strings.NewReader(strings.Replace(body, "opened", "closed", 1)))
			return r
		}, vcs.ErrBadSignature},
		{"missing signature", testSecret, func() *http.Request {
			r := hook("pull_request", body)
			r.Header.Del("X-Hub-Signature-256")
			r.Header.Set("X-Hub-Signature", "sha1="+hex.EncodeToString(mac1.Sum(nil)))
			return r
		}, vcs.ErrBadSignature},
		{"sha1 in the sha256 header", testSecret, func() *http.Request {
			r := hook("pull_request", body)
			r.Header.Set("X-Hub-Signature-256", "sha1="+hex.EncodeToString(mac1.Sum(nil)))
			return r
		}, vcs.ErrBadSignature},
		{"garbage signature", testSecret, func() *http.Request {
			r := hook("pull_request", body)
			r.Header.Set("X-Hub-Signature-256", "sha256=zz")
			return r
		}, vcs.ErrBadSignature},
		{"no secret configured, unsigned", nil, func() *http.Request {
			r := hook("pull_request", body)
			r.Header.Del("X-Hub-Signature-256")
			return r
		}, nil},
		{"no secret configured, signed", nil, func() *http.Request { return hook("pull_request", body) }, nil},
		{"bad signature checked before JSON", testSecret, func() *http.Request {
			r := hook("pull_request", "{not json")
			r.Header.Set("X-Hub-Signature-256", sign([]byte("other"), "{not json"))
			return r
		}, vcs.ErrBadSignature},
		{"malformed JSON", testSecret, func() *http.Request { return hook("pull_request", `{"action":`) }, vcs.ErrBadRequest},
		{"malformed JSON of an ignored event", testSecret, func() *http.Request { return hook("push", `{"ref"`) }, vcs.ErrBadRequest},
		{"merge group with a tag ref", testSecret, func() *http.Request {
			return hook("merge_group", mergeGroupPayload("checks_requested", "refs/tags/v1"))
		}, vcs.ErrBadRequest},
		{"merge group with a short SHA", testSecret, func() *http.Request {
			return hook("merge_group", strings.Replace(mergeGroupPayload("checks_requested", "refs/heads/q"), sha2Hex, "abc", 1))
		}, vcs.ErrBadRequest},
		{"JSON array", testSecret, func() *http.Request { return hook("issue_comment", `[1,2]`) }, vcs.ErrBadRequest},
		{"wrong field type", testSecret, func() *http.Request { return hook("pull_request", `{"action":7}`) }, vcs.ErrBadRequest},
		{"missing event header", testSecret, func() *http.Request {
			r := hook("pull_request", body)
			r.Header.Del("X-GitHub-Event")
			return r
		}, vcs.ErrBadRequest},
		{"wrong content type", testSecret, func() *http.Request {
			r := hook("pull_request", body)
			r.Header.Set("Content-Type", "text/plain")
			return r
		}, vcs.ErrBadRequest},
		{"missing content type", testSecret, func() *http.Request {
			r := hook("pull_request", body)
			r.Header.Del("Content-Type")
			return r
		}, vcs.ErrBadRequest},
		{"json with charset", testSecret, func() *http.Request {
			r := hook("pull_request", body)
			r.Header.Set("Content-Type", "application/json; charset=utf-8")
			return r
		}, nil},
		{"form encoded", testSecret, func() *http.Request {
			form := "payload=" + url.QueryEscape(body)
			r := hook("pull_request", form)
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}, nil},
		{"oversize body", testSecret, func() *http.Request {
			big := `{"pad":"` + strings.Repeat("x", MaxPayloadBytes) + `"}`
			return hook("pull_request", big)
		}, vcs.ErrBadRequest},
		{"no body", nil, func() *http.Request {
			r := hook("pull_request", "")
			r.Body = nil
			return r
		}, vcs.ErrBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := &WebhookParser{Secret: tt.secret}
			ev, err := p.Parse(tt.req())
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if ev.Kind != vcs.EventPullOpened || ev.Pull.Num != 7 {
					t.Errorf("Parse() = %v #%d, want pull_opened #7", ev.Kind, ev.Pull.Num)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Parse error = %v, want %v", err, tt.wantErr)
			}
			other := vcs.ErrBadRequest
			if tt.wantErr == vcs.ErrBadRequest {
				other = vcs.ErrBadSignature
			}
			if errors.Is(err, other) {
				t.Errorf("Parse error %v is both %v and %v", err, tt.wantErr, other)
			}
			if strings.Contains(err.Error(), string(testSecret)) {
				t.Errorf("error leaks the secret: %v", err)
			}
		})
	}
}

func TestParseHostname(t *testing.T) {
	t.Parallel()
	p := &WebhookParser{Secret: testSecret, Hostname: "ghe.example.com"}
	ev, err := p.Parse(hook("pull_request", prPayload("opened", false)))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Repo.Host != "ghe.example.com" || ev.Pull.BaseRepo.Host != "ghe.example.com" || ev.Pull.HeadRepo.Host != "ghe.example.com" {
		t.Errorf("hosts = %q %q %q, want ghe.example.com", ev.Repo.Host, ev.Pull.BaseRepo.Host, ev.Pull.HeadRepo.Host)
	}
	if ev.Repo.ID() != "ghe.example.com/acme/infra" {
		t.Errorf("Repo.ID() = %q", ev.Repo.ID())
	}
}
