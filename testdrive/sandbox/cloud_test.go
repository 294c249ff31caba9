package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCloudLifecycle(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "cloud.json")
	c := cloud{path: path}

	// A missing cloud file is an empty cloud, for Servers and for ensure.
	got, err := Servers(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("Servers of a missing file = %v, want empty", got)
	}
	if err := c.ensure(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("ensure did not create the cloud file: %v", err)
	}

	web, err := c.create(Server{Name: "web", Size: "small"})
	if err != nil {
		t.Fatal(err)
	}
	db, err := c.create(Server{Name: "db", Size: "large", Tags: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	if web.ID != "srv-1" || db.ID != "srv-2" {
		t.Fatalf("ids = %s, %s; want srv-1, srv-2", web.ID, db.ID)
	}
	if _, err := c.create(Server{Name: "web", Size: "tiny"}); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("create of a second web: err = %v, want already exists", err)
	}

	if err := SetAttribute(path, "web", "size", "large"); err != nil {
		t.Fatal(err)
	}
	if err := SetAttribute(path, "web", "tags.team", "frontend"); err != nil {
		t.Fatal(err)
	}
	want := map[string]Server{
		"web": {ID: "srv-1", Name: "web", Size: "large", Tags: map[string]string{"team": "frontend"}},
		"db":  {ID: "srv-2", Name: "db", Size: "large", Tags: map[string]string{}},
	}
	got, err = Servers(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("Servers (-want +got):\n%s", diff)
	}
	// nil and empty tags stay distinct through the file: Terraform must read
	// back exactly what it wrote.
	if got["db"].Tags == nil {
		t.Error("empty tags came back nil")
	}

	s, err := c.get("srv-1")
	if err != nil {
		t.Fatal(err)
	}
	s.Size = "medium"
	if err := c.put(s); err != nil {
		t.Fatal(err)
	}
	if s, _ := c.get("srv-1"); s.Size != "medium" {
		t.Errorf("size after put = %q, want medium", s.Size)
	}
	s.Name = "db"
	if err := c.put(s); err == nil {
		t.Error("put renaming web to the taken name db succeeded, want an error")
	}

	if err := RemoveServer(path, "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.get("srv-1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("get of a removed server: err = %v, want ErrNotFound", err)
	}
	if err := c.put(Server{ID: "srv-1", Name: "web"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("put of a removed server: err = %v, want ErrNotFound", err)
	}
	if err := c.remove("srv-1"); err != nil {
		t.Errorf("remove of an already removed server: %v", err)
	}
	// Ids are never reused, even after a delete.
	again, err := c.create(Server{Name: "web", Size: "small"})
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != "srv-3" {
		t.Errorf("id after delete and create = %s, want srv-3", again.ID)
	}
}

func TestSetAttributeErrors(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "cloud.json")
	c := cloud{path: path}
	for _, name := range []string{"web", "db"} {
		if _, err := c.create(Server{Name: name, Size: "small"}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, server, attr, value string
		wantNotFound              bool
		wantErr                   string
	}{
		{name: "no such server", server: "cache", attr: "size", value: "x", wantNotFound: true},
		{name: "unknown attribute", server: "web", attr: "color", value: "x", wantErr: "unknown attribute"},
		{name: "empty tag key", server: "web", attr: "tags.", value: "x", wantErr: "unknown attribute"},
		{name: "rename onto another", server: "web", attr: "name", value: "db", wantErr: "another server has that name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := SetAttribute(path, tt.server, tt.attr, tt.value)
			if err == nil {
				t.Fatal("SetAttribute succeeded, want an error")
			}
			if tt.wantNotFound && !errors.Is(err, ErrNotFound) {
				t.Errorf("err = %v, want ErrNotFound", err)
			}
			if tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want it to mention %q", err, tt.wantErr)
			}
		})
	}
	if err := RemoveServer(path, "cache"); !errors.Is(err, ErrNotFound) {
		t.Errorf("RemoveServer of a missing server: err = %v, want ErrNotFound", err)
	}
	// The failed edits changed nothing.
	got, err := Servers(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Server{
		"web": {ID: "srv-1", Name: "web", Size: "small"},
		"db":  {ID: "srv-2", Name: "db", Size: "small"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Servers after failed edits (-want +got):\n%s", diff)
	}
}

// TestCloudConcurrentWrites: many writers at once (as terraform creating
// servers in parallel while a test edits the file) lose no write.
func TestCloudConcurrentWrites(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "cloud.json")
	c := cloud{path: path}
	if _, err := c.create(Server{Name: "edited", Size: "0"}); err != nil {
		t.Fatal(err)
	}
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, err := c.create(Server{Name: fmt.Sprintf("s%d", i), Size: "small"})
			errs <- err
		}()
		go func() {
			defer wg.Done()
			errs <- SetAttribute(path, "edited", fmt.Sprintf("tags.k%d", i), "v")
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := Servers(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n+1 {
		t.Errorf("cloud has %d servers, want %d", len(got), n+1)
	}
	if tags := got["edited"].Tags; len(tags) != n {
		t.Errorf("edited has %d tags, want %d", len(tags), n)
	}
	ids := map[string]string{}
	for name, s := range got {
		if other, dup := ids[s.ID]; dup {
			t.Errorf("id %s given to %s and %s", s.ID, other, name)
		}
		ids[s.ID] = name
	}
}

func TestCloudFileFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		content string
		want    map[string]Server
		wantErr bool
	}{
		{name: "empty file", content: "", want: map[string]Server{}},
		{name: "hand edited, id only in the key", content: `{"servers": {"srv-7": {"name": "web", "size": "small"}}}`,
			want: map[string]Server{"web": {ID: "srv-7", Name: "web", Size: "small"}}},
		{name: "not json", content: "servers: web", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cloud.json")
			if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := Servers(path)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Servers = %v, want a parse error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Servers (-want +got):\n%s", diff)
			}
		})
	}
}
