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
		if r.URL.Path != "/repos/acme/infra" {
			http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"name":"infra","full_name":"acme/infra","owner":{"login":"acme"},"default_branch":"trunk","clone_url":"https://github.com/acme/infra.git"}`))
	}))
	t.Cleanup(srv.Close)
	c, err := New(Config{Token: "t", APIURL: srv.URL + "/"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.GetRepo(context.Background(), "acme", "infra")
	if err != nil {
		t.Fatal(err)
	}
	want := vcs.Repo{Host: "github.com", Owner: "acme", Name: "infra", CloneURL: "https://github.com/acme/infra.git", DefaultBranch: "trunk"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("GetRepo (-want +got):\n%s", d)
	}
	if _, err := c.GetRepo(context.Background(), "acme", "nope"); !errors.Is(err, vcs.ErrNotFound) {
		t.Errorf("GetRepo(missing) = %v, want ErrNotFound", err)
	}
}
