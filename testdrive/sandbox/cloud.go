package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Server is one server in the sandbox cloud, as stored in the cloud file.
type Server struct {
	// ID is assigned by the cloud on create ("srv-1", "srv-2", ...) and never reused.
	ID string `json:"id"`
	// Name is unique within one cloud file.
	Name string `json:"name"`
	// Size is free text ("small", "large").
	Size string `json:"size"`
	// Tags is nil when the server has no tags attribute at all, which is kept
	// distinct from an empty map so that Terraform sees what it wrote.
	Tags map[string]string `json:"tags"`
}

// ErrNotFound is returned when the cloud has no server with the given id or name.
var ErrNotFound = errors.New("server not found")

// cloudState is the whole cloud file.
type cloudState struct {
	// NextID numbers the next created server; ids are never reused.
	NextID  int               `json:"next_id"`
	Servers map[string]Server `json:"servers"` // by ID
}

// cloud is a handle on a cloud file. Every operation takes the file lock for
// its whole read-modify-write, so separate processes (terraform runs in
// parallel, a test editing the file) never lose each other's writes.
type cloud struct {
	path string
}

// ensure creates the cloud file, empty, if it does not exist yet.
func (c cloud) ensure() error {
	return c.update(func(*cloudState) error { return nil })
}

// view runs fn on the current cloud under the lock, without writing.
func (c cloud) view(fn func(st *cloudState) error) error {
	unlock, err := lockFile(c.path + ".lock")
	if err != nil {
		return err
	}
	defer unlock()
	st, err := c.load()
	if err != nil {
		return err
	}
	return fn(st)
}

// update runs fn on the current cloud under the lock and writes the result
// (atomically, via a temporary file and rename) when fn succeeds.
func (c cloud) update(fn func(st *cloudState) error) error {
	unlock, err := lockFile(c.path + ".lock")
	if err != nil {
		return err
	}
	defer unlock()
	st, err := c.load()
	if err != nil {
		return err
	}
	if err := fn(st); err != nil {
		return err
	}
	return c.store(st)
}

// load reads the cloud file; a missing or empty file is an empty cloud.
func (c cloud) load() (*cloudState, error) {
	st := &cloudState{NextID: 1, Servers: map[string]Server{}}
	data, err := os.ReadFile(c.path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read cloud file %q: %w", c.path, err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return st, nil
	}
	if err := json.Unmarshal(data, st); err != nil {
		return nil, fmt.Errorf("parse cloud file %q: %w", c.path, err)
	}
	if st.Servers == nil {
		st.Servers = map[string]Server{}
	}
	if st.NextID < 1 {
		st.NextID = 1
	}
	for id, s := range st.Servers {
		// A hand-edited file may leave the id out of the body; the key is authoritative.
		s.ID = id
		st.Servers[id] = s
	}
	return st, nil
}

// store writes the cloud file atomically: a reader sees the old or the new
// content, never half of it.
func (c cloud) store(st *cloudState) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode cloud file %q: %w", c.path, err)
	}
	data = append(data, '\n')
	tmp, err := os.CreateTemp(filepath.Dir(c.path), filepath.Base(c.path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write cloud file %q: %w", c.path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write cloud file %q: %w", c.path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write cloud file %q: %w", c.path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write cloud file %q: %w", c.path, err)
	}
	if err := os.Rename(tmp.Name(), c.path); err != nil {
		return fmt.Errorf("write cloud file %q: %w", c.path, err)
	}
	return nil
}

// byName returns the id of the server called name, or "" if there is none.
func (st *cloudState) byName(name string) string {
	for id, s := range st.Servers {
		if s.Name == name {
			return id
		}
	}
	return ""
}

// create adds a server with a fresh id and returns it. Names are unique, as
// in a cloud console that refuses a second server of the same name.
func (c cloud) create(s Server) (Server, error) {
	err := c.update(func(st *cloudState) error {
		if id := st.byName(s.Name); id != "" {
			return fmt.Errorf("create server %q: a server with that name already exists (id %s)", s.Name, id)
		}
		s.ID = fmt.Sprintf("srv-%d", st.NextID)
		st.NextID++
		st.Servers[s.ID] = s
		return nil
	})
	return s, err
}

// get returns the server with the given id; ErrNotFound if it is gone.
func (c cloud) get(id string) (Server, error) {
	var s Server
	err := c.view(func(st *cloudState) error {
		var ok bool
		if s, ok = st.Servers[id]; !ok {
			return fmt.Errorf("get server %s: %w", id, ErrNotFound)
		}
		return nil
	})
	return s, err
}

// put replaces the server with s.ID; ErrNotFound if it is gone.
func (c cloud) put(s Server) error {
	return c.update(func(st *cloudState) error {
		if _, ok := st.Servers[s.ID]; !ok {
			return fmt.Errorf("update server %s: %w", s.ID, ErrNotFound)
		}
		if id := st.byName(s.Name); id != "" && id != s.ID {
			return fmt.Errorf("update server %s: another server is named %q (id %s)", s.ID, s.Name, id)
		}
		st.Servers[s.ID] = s
		return nil
	})
}

// remove deletes the server with the given id; a server already gone is fine.
func (c cloud) remove(id string) error {
	return c.update(func(st *cloudState) error {
		delete(st.Servers, id)
		return nil
	})
}

// Servers returns every server in the cloud file, keyed by name. A missing
// cloud file is an empty cloud.
func Servers(cloudFile string) (map[string]Server, error) {
	out := map[string]Server{}
	err := cloud{path: cloudFile}.view(func(st *cloudState) error {
		for _, s := range st.Servers {
			out[s.Name] = s
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SetAttribute changes one attribute of the server called resourceName, the
// way someone editing it in a cloud console would: Terraform's next plan
// reports it as drift. attr is "size", "name" or "tags.KEY" (sets one tag).
// It returns an error wrapping ErrNotFound if there is no such server.
func SetAttribute(cloudFile, resourceName, attr, value string) error {
	return cloud{path: cloudFile}.update(func(st *cloudState) error {
		id := st.byName(resourceName)
		if id == "" {
			return fmt.Errorf("set %s of server %q in %q: %w", attr, resourceName, cloudFile, ErrNotFound)
		}
		s := st.Servers[id]
		switch {
		case attr == "size":
			s.Size = value
		case attr == "name":
			if other := st.byName(value); other != "" && other != id {
				return fmt.Errorf("rename server %q to %q: another server has that name (id %s)", resourceName, value, other)
			}
			s.Name = value
		case strings.HasPrefix(attr, "tags.") && len(attr) > len("tags."):
			tags := make(map[string]string, len(s.Tags)+1)
			for k, v := range s.Tags {
				tags[k] = v
			}
			tags[strings.TrimPrefix(attr, "tags.")] = value
			s.Tags = tags
		default:
			return fmt.Errorf("set %s of server %q: unknown attribute (want size, name or tags.KEY)", attr, resourceName)
		}
		st.Servers[id] = s
		return nil
	})
}

// RemoveServer deletes the server called name from the cloud, the way someone
// deleting it in a cloud console would: Terraform's next plan creates it again.
// It returns an error wrapping ErrNotFound if there is no such server.
func RemoveServer(cloudFile, name string) error {
	return cloud{path: cloudFile}.update(func(st *cloudState) error {
		id := st.byName(name)
		if id == "" {
			return fmt.Errorf("remove server %q from %q: %w", name, cloudFile, ErrNotFound)
		}
		delete(st.Servers, id)
		return nil
	})
}

// AddServer creates a server in the cloud file the way someone using a cloud
// console would, outside Terraform (which can then adopt it with terraform
// import), and returns it with its new ID.
func AddServer(cloudFile, name, size string) (Server, error) {
	return cloud{path: cloudFile}.create(Server{Name: name, Size: size})
}
