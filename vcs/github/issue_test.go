package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/atollhq/atoll/vcs"
)

// errorsIs is errors.Is, named for test readability.
func errorsIs(err, target error) bool { return errors.Is(err, target) }

func TestCreateIssue(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	f.mux.HandleFunc("/repos/acme/infra/issues", func(w http.ResponseWriter, r *http.Request) {
		testMethod(t, r, "POST")
		testBody(t, r, `{"title":"Drift: acme/infra network (default)","body":"Drift detected","labels":["atoll-drift"]}`)
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"number":31,"title":"Drift: acme/infra network (default)","body":"Drift detected","state":"open",
			"html_url":"https://evil.example/acme/infra/issues/31","labels":[{"name":"atoll-drift"}]}`)
	})
	got, err := f.client.CreateIssue(context.Background(), testRepo, "Drift: acme/infra network (default)", "Drift detected", []string{"atoll-drift"})
	if err != nil {
		t.Fatalf("CreateIssue: %v", err)
	}
	// The URL comes from the client's configuration, not the answer's html_url.
	want := vcs.Issue{Num: 31, Title: "Drift: acme/infra network (default)", Body: "Drift detected", State: "open",
		URL: f.server.URL + "/acme/infra/issues/31", Labels: []string{"atoll-drift"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CreateIssue (-want +got):\n%s", diff)
	}
}

func TestUpdateIssue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, state string
		wantBody          string // "" means no request
		wantErr           bool
	}{
		{name: "body", body: "still drifting", wantBody: `{"body":"still drifting"}`},
		{name: "close", state: IssueClosed, wantBody: `{"state":"closed","state_reason":"completed"}`},
		{name: "reopen with body", body: "again", state: IssueOpen, wantBody: `{"body":"again","state":"open"}`},
		{name: "nothing", wantBody: ""},
		{name: "bad state", state: "merged", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t, Config{})
			var called atomic.Bool
			f.mux.HandleFunc("/repos/acme/infra/issues/31", func(w http.ResponseWriter, r *http.Request) {
				called.Store(true)
				testMethod(t, r, "PATCH")
				testBody(t, r, tt.wantBody)
				fmt.Fprint(w, `{"number":31}`)
			})
			err := f.client.UpdateIssue(context.Background(), testRepo, 31, tt.body, tt.state)
			if (err != nil) != tt.wantErr {
				t.Fatalf("UpdateIssue error = %v, wantErr %v", err, tt.wantErr)
			}
			if called.Load() != (tt.wantBody != "") {
				t.Errorf("request sent = %v, want %v", called.Load(), tt.wantBody != "")
			}
		})
	}
}

// issueListHandler serves a two-page issue list filtered by the state query
// parameter, with a pull request among the issues as GitHub lists them.
func issueListHandler(t *testing.T) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		testMethod(t, r, "GET")
		q := r.URL.Query()
		if q.Get("labels") != "atoll-drift" || q.Get("sort") != "created" || q.Get("direction") != "asc" {
			t.Errorf("query = %v, want labels=atoll-drift sort=created direction=asc", q)
		}
		state := q.Get("state")
		pages := map[string][]string{
			"open": {
				`[{"number":3,"title":"Drift: acme/infra network (default)","state":"open"},
				  {"number":4,"title":"Drift: acme/infra db (default)","state":"open","pull_request":{"url":"x"}}]`,
				`[{"number":5,"title":"Drift: acme/infra db (default)","state":"open"},
				  {"number":6,"title":"Drift: acme/infra db (default)","state":"open"}]`,
			},
			"all": {
				`[{"number":2,"title":"Drift: acme/infra dns (default)","state":"closed","labels":[{"name":"atoll-drift"}]},
				  {"number":3,"title":"Drift: acme/infra network (default)","state":"open"},
				  {"number":4,"title":"Drift: acme/infra db (default)","state":"open","pull_request":{"url":"x"}}]`,
				`[{"number":5,"title":"Drift: acme/infra db (default)","state":"open"},
				  {"number":6,"title":"Drift: acme/infra db (default)","state":"open"}]`,
			},
		}
		list, ok := pages[state]
		if !ok {
			t.Errorf("state = %q, want open or all", state)
			fmt.Fprint(w, `[]`)
			return
		}
		if q.Get("page") == "2" {
			fmt.Fprint(w, list[1])
			return
		}
		linkNext(w, r, 2, 2)
		fmt.Fprint(w, list[0])
	}
}

func TestListOpenIssues(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	f.mux.HandleFunc("/repos/acme/infra/issues", issueListHandler(t))
	all, err := f.client.ListOpenIssues(context.Background(), testRepo, "atoll-drift")
	if err != nil {
		t.Fatalf("ListOpenIssues: %v", err)
	}
	var nums []int
	for _, is := range all {
		nums = append(nums, is.Num)
	}
	if diff := cmp.Diff([]int{3, 5, 6}, nums); diff != "" {
		t.Errorf("ListOpenIssues numbers (-want +got), pull requests must be left out:\n%s", diff)
	}
}

func TestFindIssue(t *testing.T) {
	t.Parallel()
	f := setup(t, Config{})
	f.mux.HandleFunc("/repos/acme/infra/issues", issueListHandler(t))
	tests := []struct {
		name   string
		title  string
		want   vcs.Issue
		wantOK bool
	}{
		{name: "oldest of several", title: "Drift: acme/infra db (default)",
			want: vcs.Issue{Num: 5, Title: "Drift: acme/infra db (default)", State: "open"}, wantOK: true},
		{name: "closed issue is found", title: "Drift: acme/infra dns (default)",
			want: vcs.Issue{Num: 2, Title: "Drift: acme/infra dns (default)", State: "closed", Labels: []string{"atoll-drift"}}, wantOK: true},
		{name: "first page", title: "Drift: acme/infra network (default)",
			want: vcs.Issue{Num: 3, Title: "Drift: acme/infra network (default)", State: "open"}, wantOK: true},
		{name: "missing", title: "Drift: acme/infra iam (default)"},
		{name: "title must match exactly", title: "Drift: acme/infra db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.wantOK {
				tt.want.URL = fmt.Sprintf("%s/acme/infra/issues/%d", f.server.URL, tt.want.Num)
			}
			got, ok, err := f.client.FindIssue(context.Background(), testRepo, "atoll-drift", tt.title)
			if err != nil {
				t.Fatalf("FindIssue: %v", err)
			}
			if ok != tt.wantOK {
				t.Errorf("FindIssue ok = %v, want %v", ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("FindIssue (-want +got):\n%s", diff)
			}
		})
	}
}
