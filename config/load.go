package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// RepoConfigNames are the files LoadRepoConfig looks for, in order.
var RepoConfigNames = []string{"atoll.yaml", "atoll.yml", "atlantis.yaml", "atlantis.yml"}

// LoadRepoConfig reads the repo config of the working copy at repoRoot: the file
// name when repos.yaml sets repo_config_file, else the first of RepoConfigNames that
// exists. It returns the parsed config and the repo-relative file used, or nil and
// "" when the repo has no config. A config that does not parse is returned as an
// error (see Errors) together with the file name.
func LoadRepoConfig(repoRoot string, name string) (*RepoConfig, string, error) {
	names := RepoConfigNames
	if name != "" {
		clean, msg := cleanDir(name)
		if msg != "" || clean == "." {
			return nil, "", fmt.Errorf("repo config file %q: must be a file inside the repository", name)
		}
		names = []string{clean}
	}
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(repoRoot, filepath.FromSlash(n)))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, n, fmt.Errorf("read repo config %s: %w", n, err)
		}
		rc, err := ParseRepoConfig(n, data)
		if err != nil {
			return nil, n, err
		}
		return rc, n, nil
	}
	return nil, "", nil
}
