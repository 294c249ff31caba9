package github

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/atollhq/atoll/vcs"
)

func TestGetRepo(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v3/repos/acme/infra" {
			http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"name":"infra","full_name":"acme/infra","owner":{"login":"acme"},"default_branch":"trunk","clone_url":"https://evil.example/acme/infra.git"}`))
	}))
	t.Cleanup(srv.Close)
	c, err := New(Config{Token: "t", APIURL: srv.URL + "/api/v3/"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.GetRepo(context.Background(), "acme", "infra")
	if err != nil {
		t.Fatal(err)
	}
	// The clone URL is derived from the API URL, not taken from the answer.
	want := vcs.Repo{Host: "github.com", Owner: "acme", Name: "infra", CloneURL: srv.URL + "/acme/infra.git", DefaultBranch: "trunk"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("GetRepo (-want +got):\n%s", d)
	}
	if _, err := c.GetRepo(context.Background(), "acme", "nope"); !errors.Is(err, vcs.ErrNotFound) {
		t.Errorf("GetRepo(missing) = %v, want ErrNotFound", err)
	}
}
