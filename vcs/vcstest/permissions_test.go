package vcstest

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/atollhq/atoll/vcs"
)

func TestRepoPermissions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{BasePermissions: map[string]string{
		"Maint": "maintain", "writer": "write", "triager": "Triage", "outsider": "none", "overridden": "admin",
	}})
	other, err := f.s.CreateRepo(testCtx(t), "acme", "other", map[string]string{"a.tf": "locals {}\n"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.s.SetPermission(f.repo, "overridden", "read"); err != nil {
		t.Fatal(err)
	}
	if err := f.s.SetPermission(f.repo, "ACME", "write"); err != nil { // even the owner can be set
		t.Fatal(err)
	}
	if err := f.s.SetPermission(other, "carol", "admin"); err != nil {
		t.Fatal(err)
	}

	type answer struct {
		Permission string `json:"permission"`
		RoleName   string `json:"role_name"`
		User       struct {
			Login string `json:"login"`
		} `json:"user"`
	}
	get := func(repo vcs.Repo, user string) (int, answer) {
		t.Helper()
		resp := rawRequest(t, http.MethodGet, f.s.APIURL()+"repos/"+repo.FullName()+"/collaborators/"+user+"/permission", "token "+testToken)
		var a answer
		if resp.StatusCode == http.StatusOK {
			if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
				t.Fatalf("decode permission of %s: %v", user, err)
			}
		}
		return resp.StatusCode, a
	}
	tests := []struct {
		repo             vcs.Repo
		user             string
		permission, role string
	}{
		{other, "acme", "admin", "admin"},           // the owner
		{other, "Acme", "admin", "admin"},           // logins are case-insensitive
		{f.repo, "acme", "write", "write"},          // SetPermission beats ownership
		{other, "maint", "write", "maintain"},       // base permission; maintain reads as write
		{other, "writer", "write", "write"},         // base permission
		{other, "triager", "read", "triage"},        // triage reads as read
		{other, "outsider", "none", "none"},         // base permission none
		{f.repo, "overridden", "read", "read"},      // SetPermission beats the base permission
		{other, "overridden", "admin", "admin"},     // but only on its repo
		{other, "carol", "admin", "admin"},          // SetPermission
		{f.repo, "carol", "read", "read"},           // everyone else: public repo
		{f.repo, "dependabot[bot]", "read", "read"}, // bots are users too
	}
	for _, tt := range tests {
		status, got := get(tt.repo, tt.user)
		want := answer{Permission: tt.permission, RoleName: tt.role}
		want.User.Login = tt.user
		if status != http.StatusOK || got != want {
			t.Errorf("permission of %s on %s = %d %+v, want 200 %+v", tt.user, tt.repo.FullName(), status, got, want)
		}
	}
	for _, tc := range []struct{ path, why string }{
		{"repos/acme/nope/collaborators/alice/permission", "unknown repo"},
		{"repos/acme/infra/collaborators/-alice/permission", "impossible login"},
		{"repos/acme/infra/collaborators/a%20b/permission", "login with a space"},
	} {
		if resp := rawRequest(t, http.MethodGet, f.s.APIURL()+tc.path, "token "+testToken); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", tc.why, resp.StatusCode)
		}
	}
	if resp := rawRequest(t, http.MethodGet, f.s.APIURL()+"repos/acme/infra/collaborators/alice/permission", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without the token: status %d, want 401", resp.StatusCode)
	}

	for _, tc := range []struct {
		repo       vcs.Repo
		user, role string
	}{
		{f.repo, "bob", "owner"},
		{f.repo, "bob", ""},
		{f.repo, "bob/x", "read"},
		{vcs.Repo{Owner: "acme", Name: "nope"}, "bob", "read"},
	} {
		if err := f.s.SetPermission(tc.repo, tc.user, tc.role); err == nil {
			t.Errorf("SetPermission(%s, %q, %q) succeeded", tc.repo.FullName(), tc.user, tc.role)
		}
	}
}

func TestBasePermissionsValidated(t *testing.T) {
	t.Parallel()
	for _, perms := range []map[string]string{{"alice": "owner"}, {"alice": ""}, {"a/b": "read"}} {
		s, err := New(Options{Dir: t.TempDir(), BasePermissions: perms})
		if err == nil {
			s.Close()
			t.Errorf("New with BasePermissions %v succeeded", perms)
		}
	}
}

func TestDismissReview(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	f := newFixture(t, Options{Now: func() time.Time { return now }})
	for _, r := range []struct{ user, state string }{
		{"bob", "APPROVED"}, {"carol", "CHANGES_REQUESTED"}, {"bob", "APPROVED"}, {"bob", "COMMENTED"}, {"dave", "COMMENTED"},
	} {
		if err := f.s.Review(f.repo, f.num, r.user, r.state); err != nil {
			t.Fatal(err)
		}
	}
	// bob's latest approval is dismissed (not his comment, not his first approval).
	if err := f.s.DismissReview(f.repo, f.num, "Bob"); err != nil {
		t.Fatalf("DismissReview(bob): %v", err)
	}
	if err := f.s.DismissReview(f.repo, f.num, "carol"); err != nil {
		t.Fatalf("DismissReview(carol): %v", err)
	}
	if err := f.s.DismissReview(f.repo, f.num, "dave"); err == nil {
		t.Error("DismissReview of a comment succeeded")
	}
	if err := f.s.DismissReview(f.repo, f.num, "erin"); err == nil {
		t.Error("DismissReview of a user without reviews succeeded")
	}
	if err := f.s.DismissReview(f.repo, 999, "bob"); err == nil {
		t.Error("DismissReview on an unknown pull request succeeded")
	}
	reviews, _, err := f.gh.PullRequests.ListReviews(testCtx(t), "acme", "infra", f.num, nil)
	if err != nil {
		t.Fatal(err)
	}
	type rv struct {
		User, State, Commit string
		At                  time.Time
	}
	var got []rv
	for _, r := range reviews {
		got = append(got, rv{r.GetUser().GetLogin(), r.GetState(), r.GetCommitID(), r.GetSubmittedAt().Time})
	}
	want := []rv{
		{"bob", "APPROVED", f.headSHA, now}, {"carol", "DISMISSED", f.headSHA, now}, {"bob", "DISMISSED", f.headSHA, now},
		{"bob", "COMMENTED", f.headSHA, now}, {"dave", "COMMENTED", f.headSHA, now},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("reviews (-want +got):\n%s", diff)
	}
}

// TestReviewCommitFollowsHead checks that a review records the head it was
// made on, so an approval of an older head can be told apart.
func TestReviewCommitFollowsHead(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	ctx := testCtx(t)
	if err := f.s.Review(f.repo, f.num, "bob", "APPROVED"); err != nil {
		t.Fatal(err)
	}
	newHead, err := f.s.Push(ctx, f.repo, "feature", map[string]string{"network/new.tf": "locals { x = 3 }\n"}, "more")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.s.Review(f.repo, f.num, "carol", "APPROVED"); err != nil {
		t.Fatal(err)
	}
	resp := rawRequest(t, http.MethodGet, f.s.APIURL()+"repos/acme/infra/pulls/"+strconv.Itoa(f.num)+"/reviews", "token "+testToken)
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var reviews []struct {
		CommitID    string `json:"commit_id"`
		SubmittedAt string `json:"submitted_at"`
	}
	if err := json.Unmarshal(body, &reviews); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	if len(reviews) != 2 || reviews[0].CommitID != f.headSHA || reviews[1].CommitID != newHead ||
		reviews[0].SubmittedAt == "" || !strings.HasSuffix(reviews[1].SubmittedAt, "Z") {
		t.Errorf("reviews = %s, want commit_id %s then %s, with submitted_at", body, f.headSHA, newHead)
	}
}
