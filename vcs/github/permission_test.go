package github

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/atollhq/atoll/vcs"
)

func TestRepoPermission(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		status  int
		body    string
		want    vcs.Permission
		wantErr string // "" means no error
	}{
		{name: "admin", body: `{"permission":"admin","role_name":"admin","user":{"login":"alice"}}`, want: vcs.PermAdmin},
		{name: "maintain is told apart by role_name", body: `{"permission":"write","role_name":"maintain"}`, want: vcs.PermMaintain},
		{name: "write", body: `{"permission":"write","role_name":"write"}`, want: vcs.PermWrite},
		{name: "triage is told apart by role_name", body: `{"permission":"read","role_name":"triage"}`, want: vcs.PermTriage},
		{name: "read", body: `{"permission":"read","role_name":"read"}`, want: vcs.PermRead},
		{name: "none", body: `{"permission":"none","role_name":"none"}`, want: vcs.PermNone},
		{name: "role_name in capitals", body: `{"permission":"write","role_name":"Maintain"}`, want: vcs.PermMaintain},
		{name: "no role_name (older GitHub Enterprise Server)", body: `{"permission":"write"}`, want: vcs.PermWrite},
		{name: "custom role falls back to permission", body: `{"permission":"read","role_name":"security-auditor"}`, want: vcs.PermRead},
		{name: "unknown everything", body: `{"permission":"owner","role_name":"boss"}`, want: vcs.PermNone, wantErr: `role_name "boss", permission "owner"`},
		{name: "unknown user", status: http.StatusNotFound, body: `{"message":"Not Found"}`, want: vcs.PermNone},
		{name: "forbidden", status: http.StatusForbidden, body: `{"message":"Must have push access to view collaborator permission."}`,
			want: vcs.PermNone, wantErr: "403"},
		{name: "server error", status: http.StatusInternalServerError, body: `{"message":"boom"}`, want: vcs.PermNone, wantErr: "500"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t, Config{MaxRetries: -1})
			f.mux.HandleFunc("/repos/acme/infra/collaborators/alice/permission", func(w http.ResponseWriter, r *http.Request) {
				testMethod(t, r, "GET")
				if tt.status != 0 {
					w.WriteHeader(tt.status)
				}
				fmt.Fprint(w, tt.body)
			})
			got, err := f.client.RepoPermission(t.Context(), testRepo, "alice")
			if got != tt.want {
				t.Errorf("RepoPermission = %q, want %q", got, tt.want)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("RepoPermission error = %v, want none", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("RepoPermission error = %v, want one containing %q", err, tt.wantErr)
			}
			if err != nil {
				if strings.Contains(err.Error(), testToken) {
					t.Errorf("error leaks the token: %v", err)
				}
				if !strings.HasPrefix(err.Error(), `get permission of "alice" on acme/infra`) {
					t.Errorf("error does not say what failed: %v", err)
				}
			}
		})
	}
}

// TestRepoPermissionLogins checks that a login GitHub could not have is no
// one's (PermNone without a request), so path syntax never reaches the URL,
// and that bot and managed-user logins are asked about.
func TestRepoPermissionLogins(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	var asked atomic.Int32
	f.mux.HandleFunc("/repos/acme/infra/collaborators/{user}/permission", func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		fmt.Fprint(w, `{"permission":"write","role_name":"write"}`)
	})
	f.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("unexpected request %s", r.URL)
		w.WriteHeader(http.StatusNotFound)
	})
	for _, user := range []string{"", "..", "../../../orgs/acme", "alice/x", "alice?x=1", "alice#x", "al ice", "-alice", "alice\n"} {
		got, err := f.client.RepoPermission(t.Context(), testRepo, user)
		if got != vcs.PermNone || err != nil {
			t.Errorf("RepoPermission(%q) = %q, %v; want none", user, got, err)
		}
	}
	if n := asked.Load(); n != 0 {
		t.Errorf("%d requests for invalid logins", n)
	}
	for _, user := range []string{"alice", "Alice-B", "dependabot[bot]", "octocat_acme"} {
		if got, err := f.client.RepoPermission(t.Context(), testRepo, user); got != vcs.PermWrite || err != nil {
			t.Errorf("RepoPermission(%q) = %q, %v; want write", user, got, err)
		}
	}
	if n := asked.Load(); n != 4 {
		t.Errorf("%d requests for 4 valid logins", n)
	}
	bad := vcs.Repo{Host: "ghe.example.com", Owner: "acme", Name: ".."}
	if _, err := f.client.RepoPermission(t.Context(), bad, "alice"); !errors.Is(err, errBadRepoName) {
		t.Errorf("RepoPermission on repo %q: %v, want errBadRepoName", bad.FullName(), err)
	}
}
