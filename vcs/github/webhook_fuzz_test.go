package github

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/atollhq/atoll/vcs"
)

// FuzzParseWebhook asserts Parse never panics and always returns either an
// event or one of its two documented errors, whatever the event type,
// content type and body. Bodies are signed so fuzzing reaches the parsers.
func FuzzParseWebhook(f *testing.F) {
	seeds := []struct{ event, contentType, body string }{
		{"ping", "application/json", `{"zen":"hi","hook_id":1}`},
		{"pull_request", "application/json", prPayload("opened", false)},
		{"pull_request", "application/json", prPayload("closed", true)},
		{"pull_request", "application/json", `{"action":"opened","pull_request":null}`},
		{"pull_request", "application/json", `{"action":"opened","pull_request":{"head":{"repo":null},"base":{}}}`},
		{"issue_comment", "application/json", commentPayload("created", true, "bob")},
		{"issue_comment", "application/json", commentPayload("created", false, "atoll-bot")},
		{"issue_comment", "application/json", commentPayload("created", false, "bob")},
		{"issue_comment", "application/json", `{"action":"created","issue":null,"comment":null}`},
		{"issue_comment", "application/json", `null`},
		{"push", "application/json", `[]`},
		{"pull_request", "application/x-www-form-urlencoded", "payload=%7B%7D"},
		{"pull_request", "application/x-www-form-urlencoded", "payload=%zz"},
		{"", "text/plain", "\x00\xff"},
		// Forged URLs and names GitHub does not allow.
		{"pull_request", "application/json", forgedPull("opened")},
		{"issue_comment", "application/json", forgedComment(true)},
		{"issue_comment", "application/json", forgedComment(false)},
		{"pull_request", "application/json", `{"action":"opened","repository":{"name":"..","owner":{"login":"acme"}}}`},
		{"issue_comment", "application/json", `{"action":"created","repository":{"name":"x","owner":{"login":"a/b"}},"issue":{"number":1}}`},
		{"pull_request", "application/json", `{"action":"opened","repository":{"name":"x","full_name":"evil.example/x"},"pull_request":{"number":1}}`},
		{"ping", "application/json", `{"repository":{"name":"x?y","owner":{"login":"acme"}}}`},
	}
	for _, s := range seeds {
		f.Add(s.event, s.contentType, []byte(s.body))
	}
	p := &WebhookParser{Secret: testSecret, BotUser: "atoll-bot"}
	f.Fuzz(func(t *testing.T, event, contentType string, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/events", strings.NewReader(string(body)))
		r.Header.Set("Content-Type", contentType)
		r.Header.Set("X-GitHub-Event", event)
		r.Header.Set("X-Hub-Signature-256", sign(testSecret, string(body)))
		ev, err := p.Parse(r)
		if err != nil {
			if !errorsIs(err, vcs.ErrBadRequest) && !errorsIs(err, vcs.ErrBadSignature) {
				t.Fatalf("Parse error %v is neither ErrBadRequest nor ErrBadSignature", err)
			}
			return
		}
		if ev.BodyDigest != digest(string(body)) {
			t.Errorf("BodyDigest = %q, want the SHA-256 of the body", ev.BodyDigest)
		}
		// Every URL is built under the configured base from allowed names.
		for _, repo := range []vcs.Repo{ev.Repo, ev.Pull.BaseRepo, ev.Pull.HeadRepo} {
			if repo.CloneURL == "" {
				continue
			}
			if err := checkRepoName(repo.Owner, repo.Name); err != nil {
				t.Errorf("event carries repo %q: %v", repo.FullName(), err)
			}
			if want := "https://github.com/" + repo.Owner + "/" + repo.Name + ".git"; repo.CloneURL != want {
				t.Errorf("clone URL = %q, want %q", repo.CloneURL, want)
			}
		}
		if ev.Pull.URL != "" && !strings.HasPrefix(ev.Pull.URL, "https://github.com/"+ev.Repo.FullName()+"/") {
			t.Errorf("pull URL %q is not under https://github.com/%s/", ev.Pull.URL, ev.Repo.FullName())
		}
		if ev.Kind == vcs.EventIgnored && ev.Reason == "" {
			t.Errorf("ignored event without a reason: %+v", ev)
		}
		if (ev.Kind == vcs.EventComment || ev.Kind == vcs.EventIssueComment) && strings.EqualFold(ev.Comment.User, p.BotUser) {
			t.Errorf("the bot's own comment was not ignored: %+v", ev)
		}
	})
}
