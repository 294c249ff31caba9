package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// hostileRepo is a repository whose pull request tries to make the server read
// outside the repository, block on a named pipe, run out of memory or overflow
// its stack through Terraform files. Each hostile file, if read, would add a
// module call the test can see.
func hostileRepo(t *testing.T) string {
	t.Helper()
	repo, outside := repoWithOutside(t)
	if err := os.WriteFile(outside, []byte("terraform {\n  required_version = \"9.9.9\"\n}\nmodule \"x\" {\n  source = \"../../modules/leak\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"envs/prod/main.tf":         "module \"net\" {\n  source = \"../../modules/network\"\n}\n",
		"envs/prod/versions.tf":     "terraform {\n  required_version = \"1.5.7\"\n}\n",
		"envs/prod/big.tf":          "module \"big\" {\n  source = \"../../modules/big\"\n}\n" + strings.Repeat("#", MaxTerraformFileSize),
		"envs/prod/deep.tf":         "module \"deep\" {\n  source = \"../../modules/deep\"\n}\nx = " + strings.Repeat("(", 5000),
		"envs/prod/deep.tf.json":    `{"module": {"deepjson": {"source": "../../modules/deepjson"}}, "x": ` + strings.Repeat("[", 5000),
		"modules/network/main.tf":   "resource \"terraform_data\" \"n\" {}\n",
		"modules/leak/main.tf":      "resource \"terraform_data\" \"l\" {}\n",
		"modules/big/main.tf":       "resource \"terraform_data\" \"b\" {}\n",
		"modules/deep/main.tf":      "resource \"terraform_data\" \"d\" {}\n",
		"modules/deepjson/main.tf":  "resource \"terraform_data\" \"j\" {}\n",
		"envs/staging/main.tf":      "resource \"terraform_data\" \"s\" {}\n",
		"shared/versions.tf.shared": "terraform {\n  required_version = \"1.6.0\"\n}\n",
	} {
		writeFile(t, repo, name, body)
	}
	mustSymlink(t, "/dev/zero", filepath.Join(repo, "envs/prod/zero.tf"))
	mustSymlink(t, "../../../outside", filepath.Join(repo, "envs/prod/outside.tf"))
	mustSymlink(t, outside, filepath.Join(repo, "envs/prod/absolute.tf"))
	mustFIFO(t, filepath.Join(repo, "envs/prod/pipe.tf"))
	// Allowed: a symlink to a file elsewhere in the repository.
	mustSymlink(t, "../../shared/versions.tf.shared", filepath.Join(repo, "envs/staging/versions.tf"))
	// A directory outside the repository, linked in: never walked.
	linked := filepath.Join(filepath.Dir(repo), "linked")
	writeFile(t, linked, "main.tf", "resource \"terraform_data\" \"x\" {}\n")
	mustSymlink(t, linked, filepath.Join(repo, "linked"))
	return repo
}

func TestProjectsSkipUnsafeTerraformFiles(t *testing.T) {
	t.Parallel()
	repo := hostileRepo(t)
	r := resolveFor(t, "", "")

	all := prompt(t, func() []Project {
		all, err := r.AllProjects(repo)
		if err != nil {
			t.Errorf("AllProjects: %v", err)
		}
		return all
	})
	got := map[string]string{}
	for _, p := range all {
		got[p.Dir] = p.TerraformVersion
	}
	want := map[string]string{"envs/prod": "1.5.7", "envs/staging": "1.6.0"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("AllProjects dir → terraform version (-want +got):\n%s", diff)
	}

	c := openCheckout(repo)
	defer c.close()
	g, err := scanRepo(c)
	if err != nil {
		t.Fatalf("scanRepo: %v", err)
	}
	if diff := cmp.Diff([]string{"modules/network"}, g.calls["envs/prod"]); diff != "" {
		t.Errorf("module calls of envs/prod (-want +got); a hostile file was read:\n%s", diff)
	}
	if g.tfDirs["linked"] {
		t.Error("a symlinked directory outside the repository was walked")
	}

	// The refusals are reported, relative to the repository.
	_, err = requiredVersion(c, "envs/prod")
	for _, want := range []string{
		"envs/prod/absolute.tf: is a symbolic link that leaves the repository",
		"envs/prod/big.tf: is 4194352 bytes, larger than the 4 MiB limit",
		"envs/prod/deep.tf:4:1004: nests more than 1000 levels deep",
		"envs/prod/deep.tf.json:1:1068: nests more than 1000 levels deep",
		"envs/prod/outside.tf: is a symbolic link that leaves the repository",
		"envs/prod/pipe.tf: is not a regular file: it is a named pipe (FIFO)",
		"envs/prod/zero.tf: is a symbolic link that leaves the repository",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("requiredVersion error = %v, want it to say %q", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), filepath.Dir(repo)) {
		t.Errorf("error shows the server's path: %v", err)
	}
	var fe *FileError
	if !errors.As(err, &fe) {
		t.Errorf("error %v holds no *FileError", err)
	}

	changed := prompt(t, func() []string {
		ps, err := r.Projects(repo, []string{"modules/leak/main.tf", "modules/big/main.tf", "modules/network/main.tf", "linked/main.tf"})
		if err != nil {
			t.Errorf("Projects: %v", err)
		}
		return dirsOf(ps)
	})
	if diff := cmp.Diff([]string{"envs/prod"}, changed); diff != "" {
		t.Errorf("Projects (-want +got):\n%s", diff)
	}
}

// TestProjectDirSymlinkLeavingRepo checks that a configured project whose dir is
// a symbolic link out of the repository does not exist as far as Atoll is
// concerned, so nothing plans there.
func TestProjectDirSymlinkLeavingRepo(t *testing.T) {
	t.Parallel()
	repo, outside := repoWithOutside(t)
	writeFile(t, repo, "real/main.tf", "")
	mustSymlink(t, filepath.Dir(outside), filepath.Join(repo, "escape"))
	mustSymlink(t, "real", filepath.Join(repo, "alias"))
	r := resolveFor(t, "", "version: 3\nprojects:\n- dir: escape\n- dir: alias\n")
	all, err := r.AllProjects(repo)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"alias"}, dirsOf(all)); diff != "" {
		t.Errorf("AllProjects (-want +got):\n%s", diff)
	}
	ps, err := r.Projects(repo, []string{"escape/main.tf", "alias/main.tf"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"alias"}, dirsOf(ps)); diff != "" {
		t.Errorf("Projects (-want +got):\n%s", diff)
	}
	plain := resolveFor(t, "", "")
	if _, err := plain.Select(repo, nil, "escape", "", ""); err == nil || err.Error() != "directory `escape` does not exist in the repository" {
		t.Errorf("Select -d escape: %v, want it refused", err)
	}
}

// TestScanRepoNamesNotUTF8 checks that a file or directory whose name is not
// valid UTF-8 (legal in Git and on Linux) does not stop the walk.
func TestScanRepoNamesNotUTF8(t *testing.T) {
	t.Parallel()
	repo := writeTree(t, map[string]string{
		"envs/\xff/main.tf":  "terraform {\n  required_version = \"1.5.7\"\n}\n",
		"envs/ok/\xfe.tf":    "module \"m\" {\n  source = \"../../modules/m\"\n}\n",
		"modules/m/main.tf":  "",
		"envs/ok/\xfd/x.txt": "",
	})
	all, err := resolveFor(t, "", "").AllProjects(repo)
	if err != nil {
		t.Fatalf("AllProjects: %v", err)
	}
	got := map[string]string{}
	for _, p := range all {
		got[p.Dir] = p.TerraformVersion
	}
	if diff := cmp.Diff(map[string]string{"envs/\xff": "1.5.7", "envs/ok": ""}, got); diff != "" {
		t.Errorf("AllProjects (-want +got):\n%s", diff)
	}
}
