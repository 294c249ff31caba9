package config

import (
	"errors"
	"fmt"
	"io/fs"
)

// RepoConfigNames are the files LoadRepoConfig looks for, in order.
var RepoConfigNames = []string{"atoll.yaml", "atoll.yml", "atlantis.yaml", "atlantis.yml"}

// LoadRepoConfig reads the repo config of the working copy at repoRoot: the file
// name when repos.yaml sets repo_config_file, else the first of RepoConfigNames that
// exists. It returns the parsed config and the repo-relative file used, or nil and
// "" when the repo has no config. A config that does not parse is returned as an
// error (see Errors) together with the file name.
//
// The file is read only if it is a regular file inside the repository of at most
// MaxRepoConfigSize bytes: a symbolic link that leads outside the repository, a
// named pipe or device, or a larger file is an error (a *FileError naming the file
// relative to repoRoot) rather than being skipped, so the pull request is told.
func LoadRepoConfig(repoRoot string, name string) (*RepoConfig, string, error) {
	names := RepoConfigNames
	if name != "" {
		clean, msg := cleanDir(name)
		if msg != "" || clean == "." {
			return nil, "", fmt.Errorf("repo config file %q: must be a file inside the repository", name)
		}
		names = []string{clean}
	}
	c := openCheckout(repoRoot)
	defer c.close()
	for _, n := range names {
		data, err := c.readFile(n, MaxRepoConfigSize)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		var fe *FileError
		if errors.As(err, &fe) {
			// fe reads "name: reason", so this is "read repo config atoll.yaml: reason".
			return nil, n, fmt.Errorf("read repo config %w", err)
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
