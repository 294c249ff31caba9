package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/atollhq/atoll/vcs"
)

// mergePull is pull request 7 of testRepo from its own branch "feature".
var mergePull = vcs.PullRequest{
	BaseRepo:   testRepo,
	HeadRepo:   testRepo,
	Num:        7,
	HeadSHA:    "abc123",
	HeadBranch: "feature",
	BaseBranch: "main",
}

func TestMergePull(t *testing.T) {
	t.Parallel()
	fork := mergePull
	fork.HeadRepo = vcs.Repo{Host: testRepo.Host, Owner: "bob", Name: "infra"}
	deletedFork := mergePull
	deletedFork.HeadRepo = vcs.Repo{Host: testRepo.Host}
	sameRepoOtherCase := mergePull
	sameRepoOtherCase.HeadRepo = vcs.Repo{Host: testRepo.Host, Owner: "ACME", Name: "Infra"}
	fromDefault := mergePull
	fromDefault.HeadBranch, fromDefault.BaseBranch = "main", "release"
	fromDefault.BaseRepo.DefaultBranch = "main"
	slashBranch := mergePull
	slashBranch.HeadBranch = "feat/x y"

	tests := []struct {
		name         string
		pull         vcs.PullRequest
		method       string
		deleteBranch bool
		wantBody     string
		wantDelete   string // escaped path of the deleted ref, "" for none
	}{
		{name: "default method", pull: mergePull, wantBody: `{"merge_method":"merge","sha":"abc123"}`},
		{name: "squash", pull: mergePull, method: "squash", wantBody: `{"merge_method":"squash","sha":"abc123"}`},
		{name: "rebase", pull: mergePull, method: "rebase", wantBody: `{"merge_method":"rebase","sha":"abc123"}`},
		{name: "delete branch", pull: mergePull, deleteBranch: true,
			wantBody: `{"merge_method":"merge","sha":"abc123"}`, wantDelete: "heads/feature"},
		{name: "delete branch with slash", pull: slashBranch, deleteBranch: true,
			wantBody: `{"merge_method":"merge","sha":"abc123"}`, wantDelete: "heads/feat/x%20y"},
		{name: "same repo named in other case", pull: sameRepoOtherCase, deleteBranch: true,
			wantBody: `{"merge_method":"merge","sha":"abc123"}`, wantDelete: "heads/feature"},
		{name: "fork branch kept", pull: fork, deleteBranch: true, wantBody: `{"merge_method":"merge","sha":"abc123"}`},
		{name: "deleted fork kept", pull: deletedFork, deleteBranch: true, wantBody: `{"merge_method":"merge","sha":"abc123"}`},
		{name: "default branch kept", pull: fromDefault, deleteBranch: true, wantBody: `{"merge_method":"merge","sha":"abc123"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t, Config{})
			var merges atomic.Int32
			f.mux.HandleFunc("/repos/acme/infra/pulls/7/merge", func(w http.ResponseWriter, r *http.Request) {
				testMethod(t, r, "PUT")
				testBody(t, r, tt.wantBody)
				merges.Add(1)
				fmt.Fprint(w, `{"sha":"fff000","merged":true,"message":"Pull Request successfully merged"}`)
			})
			var deleted atomic.Value
			f.mux.HandleFunc("/repos/acme/infra/git/refs/", func(w http.ResponseWriter, r *http.Request) {
				testMethod(t, r, "DELETE")
				if merges.Load() != 1 {
					t.Error("branch deleted before the merge")
				}
				deleted.Store(strings.TrimPrefix(r.URL.EscapedPath(), "/repos/acme/infra/git/refs/"))
				w.WriteHeader(http.StatusNoContent)
			})
			if err := f.client.MergePull(context.Background(), testRepo, tt.pull, tt.method, tt.deleteBranch); err != nil {
				t.Fatalf("MergePull: %v", err)
			}
			if merges.Load() != 1 {
				t.Errorf("merge requests = %d, want 1", merges.Load())
			}
			got, _ := deleted.Load().(string)
			if got != tt.wantDelete {
				t.Errorf("deleted ref = %q, want %q", got, tt.wantDelete)
			}
		})
	}
}

func TestMergePullRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		status  int
		body    string
		wantMsg string
	}{
		{"not mergeable", http.StatusMethodNotAllowed, `{"message":"Pull Request is not mergeable"}`, "Pull Request is not mergeable"},
		{"method disallowed", http.StatusMethodNotAllowed, `{"message":"Merge commits are not allowed on this repository."}`, "Merge commits are not allowed"},
		{"head moved", http.StatusConflict, `{"message":"Head branch was modified. Review and try the merge again."}`, "Head branch was modified"},
		{"no message", http.StatusConflict, `{}`, "Conflict"},
		{"answered not merged", http.StatusOK, `{"merged":false,"message":"Base branch was modified."}`, "Base branch was modified"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t, Config{})
			f.mux.HandleFunc("/repos/acme/infra/pulls/7/merge", func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			})
			f.mux.HandleFunc("/repos/acme/infra/git/refs/", func(w http.ResponseWriter, r *http.Request) {
				t.Errorf("branch deleted after a refused merge: %s %s", r.Method, r.URL.Path)
			})
			err := f.client.MergePull(context.Background(), testRepo, mergePull, "", true)
			if !errors.Is(err, vcs.ErrNotMergeable) {
				t.Fatalf("MergePull error = %v, want vcs.ErrNotMergeable", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) || !strings.Contains(err.Error(), "acme/infra#7") {
				t.Errorf("error %q does not name the pull request and contain %q", err, tt.wantMsg)
			}
		})
	}
}

func TestMergePullErrors(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{MaxRetries: -1})
	f.mux.HandleFunc("/repos/acme/infra/pulls/7/merge", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `{"message":"Resource not accessible by integration"}`)
	})
	f.mux.HandleFunc("/repos/acme/infra/pulls/8/merge", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"message":"Not Found"}`)
	})
	ctx := context.Background()

	err := f.client.MergePull(ctx, testRepo, mergePull, "", false)
	if err == nil || errors.Is(err, vcs.ErrNotMergeable) || !strings.Contains(err.Error(), "Resource not accessible") {
		t.Errorf("403: error = %v, want a plain error with GitHub's message", err)
	}
	missing := mergePull
	missing.Num = 8
	if err := f.client.MergePull(ctx, testRepo, missing, "", false); !errors.Is(err, vcs.ErrNotFound) {
		t.Errorf("404: error = %v, want vcs.ErrNotFound", err)
	}
	if err := f.client.MergePull(ctx, testRepo, mergePull, "fast-forward", false); err == nil || !strings.Contains(err.Error(), "unknown merge method") {
		t.Errorf("bad method: error = %v", err)
	}
	noSHA := mergePull
	noSHA.HeadSHA = ""
	if err := f.client.MergePull(ctx, testRepo, noSHA, "", false); err == nil || !strings.Contains(err.Error(), "no head SHA") {
		t.Errorf("no head SHA: error = %v", err)
	}
}

func TestMergePullDeleteBranch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		status  int
		body    string
		wantErr string // "" for success
	}{
		{"already deleted", http.StatusUnprocessableEntity, `{"message":"Reference does not exist"}`, ""},
		{"protected", http.StatusUnprocessableEntity, `{"message":"Cannot delete this protected branch"}`, "Cannot delete this protected branch"},
		{"forbidden", http.StatusForbidden, `{"message":"Resource not accessible by integration"}`, "Resource not accessible"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t, Config{MaxRetries: -1})
			f.mux.HandleFunc("/repos/acme/infra/pulls/7/merge", func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, `{"sha":"fff000","merged":true,"message":"Pull Request successfully merged"}`)
			})
			f.mux.HandleFunc("/repos/acme/infra/git/refs/heads/feature", func(w http.ResponseWriter, r *http.Request) {
				testMethod(t, r, "DELETE")
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			})
			err := f.client.MergePull(context.Background(), testRepo, mergePull, "", true)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("MergePull: %v", err)
				}
				return
			}
			if err == nil || errors.Is(err, vcs.ErrNotMergeable) ||
				!strings.Contains(err.Error(), "merged pull request acme/infra#7, but delete branch feature") ||
				!strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("MergePull error = %v, want it to say the merge succeeded and contain %q", err, tt.wantErr)
			}
		})
	}
}
