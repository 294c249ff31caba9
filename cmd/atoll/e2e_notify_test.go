package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// hookReceiver is a webhook endpoint that records what it is sent.
type hookReceiver struct {
	mu     sync.Mutex // guards bodies
	bodies []string
}

func newHookReceiver(t *testing.T) (*hookReceiver, string) {
	t.Helper()
	h := &hookReceiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.bodies = append(h.bodies, string(b))
		h.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return h, srv.URL
}

func (h *hookReceiver) all() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.bodies...)
}

// Notifications: --notify-url (from the environment, a JSON endpoint) hears
// of an apply and a failed plan; a Slack target set by repos.yaml for the
// repository, filtered to plan_failed, hears only of that one.
func TestE2ENotifications(t *testing.T) {
	t.Parallel()
	global, globalURL := newHookReceiver(t)
	team, teamURL := newHookReceiver(t)
	gh := fakeGitHub(t)
	atoll := startAtollEnv(t, gh, t.TempDir(), []string{"ATOLL_NOTIFY_URL=" + globalURL}, writeReposYAML(t, `repos:
- id: /.*/
  notify:
  - url: slack+`+teamURL+`/services/T0/B0/team-secret
    events: [plan_failed]
`))
	repo := networkRepo(t, gh, "infra", t.TempDir())
	_, pr := openPR(t, gh, repo, "subnet", map[string]string{"network/subnet.tf": subnetTF}, "alice")
	waitComment(t, gh, repo, pr, "Plan: 2 to add")
	comment(t, gh, repo, pr, "bob", "atoll apply")
	waitComment(t, gh, repo, pr, "Apply complete! Resources: 2 added")
	var applied map[string]any
	waitFor(t, func() bool {
		for _, b := range global.all() {
			if json.Unmarshal([]byte(b), &applied) == nil && applied["event"] == "apply_succeeded" {
				return true
			}
		}
		return false
	}, "the apply_succeeded notification")
	if applied["repo"] != "acme/infra" || applied["project"] != "network" || applied["user"] != "bob" ||
		!strings.Contains(applied["text"].(string), "Applied `network` · workspace `default` on acme/infra#1 (by @bob") ||
		!strings.HasPrefix(applied["url"].(string), atoll.URL+"/jobs/") {
		t.Errorf("apply notification = %v", applied)
	}

	// A push that breaks the plan: both targets hear of it, the team one in
	// Slack's format.
	if _, err := gh.Push(waitCtx(t), repo, "subnet", map[string]string{"network/subnet.tf": "resource \"terraform_data\" \"x\" {\n"}, "break"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(team.all()) > 0 }, "the Slack notification of the failed plan")
	slack := team.all()[0]
	var sm map[string]string
	if err := json.Unmarshal([]byte(slack), &sm); err != nil || !strings.HasPrefix(sm["text"], "Plan failed for `network` · workspace `default` on acme/infra#1") ||
		!strings.Contains(sm["text"], "|Details>") {
		t.Errorf("Slack body = %s", slack)
	}
	waitFor(t, func() bool { return strings.Contains(strings.Join(global.all(), "\n"), `"event":"plan_failed"`) }, "the global plan_failed")
	for _, b := range append(global.all(), team.all()...) {
		if strings.Contains(b, `"event":"plan_succeeded"`) || strings.Contains(b, "team-secret") {
			t.Errorf("unexpected notification %s", b)
		}
	}
	if n := len(team.all()); n != 1 {
		t.Errorf("the team target (plan_failed only) got %d notifications", n)
	}
	if strings.Contains(atoll.log.String(), globalURL) || strings.Contains(atoll.log.String(), "team-secret") {
		t.Error("a notification URL reached the server log")
	}
}
