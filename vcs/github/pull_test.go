package github

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/atollhq/atoll/vcs"
)

// linkNext writes a Link header pointing at page of r's path.
func linkNext(w http.ResponseWriter, r *http.Request, page, last int) {
	url := func(p int) string {
		return fmt.Sprintf("<http://%s/api/v3%s?per_page=100&page=%d>", r.Host, r.URL.Path, p)
	}
	w.Header().Set("Link", url(page)+`; rel="next", `+url(last)+`; rel="last"`)
}

func TestListChangedFilesPaginates(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	var calls atomic.Int32
	f.mux.HandleFunc("/repos/acme/infra/pulls/7/files", func(w http.ResponseWriter, r *http.Request) {
		testMethod(t, r, "GET")
		calls.Add(1)
		if got := r.URL.Query().Get("per_page"); got != "100" {
			t.Errorf("per_page = %q, want 100", got)
		}
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		switch page {
		case 0, 1:
			linkNext(w, r, 2, 3)
			fmt.Fprint(w, `[{"filename":"network/main.tf","status":"modified"},{"filename":"README.md","status":"modified"}]`)
		case 2:
			linkNext(w, r, 3, 3)
			fmt.Fprint(w, `[{"filename":"apps/web/main.tf","previous_filename":"web/main.tf","status":"renamed"}]`)
		case 3:
			fmt.Fprint(w, `[{"filename":"network/vars.tf","status":"added"},{"filename":"network/main.tf","status":"modified"}]`)
		default:
			t.Errorf("unexpected page %d", page)
		}
	})
	got, err := f.client.ListChangedFiles(context.Background(), testRepo, 7)
	if err != nil {
		t.Fatalf("ListChangedFiles: %v", err)
	}
	want := []string{"network/main.tf", "README.md", "apps/web/main.tf", "web/main.tf", "network/vars.tf"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ListChangedFiles (-want +got):\n%s", diff)
	}
	if calls.Load() != 3 {
		t.Errorf("requests = %d, want 3 pages", calls.Load())
	}
}

func TestListReviewsPaginates(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	f.mux.HandleFunc("/repos/acme/infra/pulls/7/reviews", func(w http.ResponseWriter, r *http.Request) {
		testMethod(t, r, "GET")
		if r.URL.Query().Get("page") == "2" {
			fmt.Fprint(w, `[{"id":3,"user":{"login":"carol"},"state":"CHANGES_REQUESTED","commit_id":"bbb","submitted_at":"2026-11-23T09:30:00Z"},
				{"id":4,"user":{"login":"dave"},"state":"PENDING","commit_id":"bbb"}]`)
			return
		}
		linkNext(w, r, 2, 2)
		fmt.Fprint(w, `[{"id":1,"user":{"login":"alice"},"state":"APPROVED","commit_id":"aaa","submitted_at":"2026-11-23T09:00:00Z"},
			{"id":2,"user":{"login":"bob"},"state":"DISMISSED","commit_id":"aaa","submitted_at":"2026-11-23T09:10:00Z"}]`)
	})
	got, err := f.client.ListReviews(context.Background(), testRepo, 7)
	if err != nil {
		t.Fatalf("ListReviews: %v", err)
	}
	at := func(min int) time.Time { return time.Date(2026, 11, 23, 9, min, 0, 0, time.UTC) }
	want := []vcs.Review{
		{ID: 1, User: "alice", State: "APPROVED", CommitID: "aaa", SubmittedAt: at(0)},
		{ID: 2, User: "bob", State: "DISMISSED", CommitID: "aaa", SubmittedAt: at(10)},
		{ID: 3, User: "carol", State: "CHANGES_REQUESTED", CommitID: "bbb", SubmittedAt: at(30)},
		{ID: 4, User: "dave", State: "PENDING", CommitID: "bbb"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ListReviews (-want +got):\n%s", diff)
	}
}

func TestCreateAndUpdateComment(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	f.mux.HandleFunc("/repos/acme/infra/issues/7/comments", func(w http.ResponseWriter, r *http.Request) {
		testMethod(t, r, "POST")
		testBody(t, r, `{"body":"### Plan for network"}`)
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"id":12345,"body":"### Plan for network"}`)
	})
	f.mux.HandleFunc("/repos/acme/infra/issues/comments/12345", func(w http.ResponseWriter, r *http.Request) {
		testMethod(t, r, "PATCH")
		testBody(t, r, `{"body":"edited"}`)
		fmt.Fprint(w, `{"id":12345,"body":"edited"}`)
	})
	ctx := context.Background()
	id, err := f.client.CreateComment(ctx, testRepo, 7, "### Plan for network")
	if err != nil || id != 12345 {
		t.Fatalf("CreateComment() = %d, %v; want 12345", id, err)
	}
	if err := f.client.UpdateComment(ctx, testRepo, id, "edited"); err != nil {
		t.Fatalf("UpdateComment: %v", err)
	}
}

func TestOversizeCommentRefused(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	var calls atomic.Int32
	f.mux.HandleFunc("/repos/acme/infra/issues/", func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		t.Errorf("oversize comment was sent: %s %s", r.Method, r.URL.Path)
	})
	ctx := context.Background()
	exact := strings.Repeat("a", vcs.MaxCommentLen)
	over := exact + "b"
	if _, err := f.client.CreateComment(ctx, testRepo, 7, over); !errorsIs(err, ErrCommentTooLong) {
		t.Errorf("CreateComment(oversize) error = %v, want ErrCommentTooLong", err)
	}
	if err := f.client.UpdateComment(ctx, testRepo, 1, over); !errorsIs(err, ErrCommentTooLong) {
		t.Errorf("UpdateComment(oversize) error = %v, want ErrCommentTooLong", err)
	}
	if _, err := f.client.CreateIssue(ctx, testRepo, "t", over, nil); !errorsIs(err, ErrCommentTooLong) {
		t.Errorf("CreateIssue(oversize) error = %v, want ErrCommentTooLong", err)
	}
	if calls.Load() != 0 {
		t.Errorf("%d requests sent for oversize bodies", calls.Load())
	}
}

func TestCommentAtLimitIsSentWhole(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	exact := strings.Repeat("a", vcs.MaxCommentLen)
	f.mux.HandleFunc("/repos/acme/infra/issues/7/comments", func(w http.ResponseWriter, r *http.Request) {
		testBody(t, r, `{"body":"`+exact+`"}`)
		fmt.Fprint(w, `{"id":1}`)
	})
	if _, err := f.client.CreateComment(context.Background(), testRepo, 7, exact); err != nil {
		t.Fatalf("CreateComment(at limit): %v", err)
	}
}

func TestSetStatus(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 200)
	tests := []struct {
		name     string
		status   vcs.Status
		wantBody string
	}{
		{
			name:     "short",
			status:   vcs.Status{SHA: "abc", Context: "atoll/plan", State: vcs.StatusSuccess, Description: "2 projects planned", TargetURL: "https://atoll.example.com/jobs/1"},
			wantBody: `{"state":"success","target_url":"https://atoll.example.com/jobs/1","description":"2 projects planned","context":"atoll/plan"}`,
		},
		{
			name:     "long description cut",
			status:   vcs.Status{SHA: "abc", Context: "atoll/plan", State: vcs.StatusFailure, Description: long},
			wantBody: `{"state":"failure","description":"` + strings.Repeat("é", 139) + `…","context":"atoll/plan"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t, Config{})
			f.mux.HandleFunc("/repos/acme/infra/statuses/abc", func(w http.ResponseWriter, r *http.Request) {
				testMethod(t, r, "POST")
				testBody(t, r, tt.wantBody)
				w.WriteHeader(http.StatusCreated)
				fmt.Fprint(w, `{}`)
			})
			if err := f.client.SetStatus(context.Background(), testRepo, tt.status); err != nil {
				t.Fatalf("SetStatus: %v", err)
			}
		})
	}
	if got := utf8.RuneCountInString(cutDescription(long)); got != 140 {
		t.Errorf("cut description has %d characters, want 140", got)
	}
	if got := cutDescription(strings.Repeat("x", 140)); got != strings.Repeat("x", 140) {
		t.Errorf("a 140-character description was changed to %q", got)
	}
}
