//go:build unix

package capture

import "golang.org/x/sys/unix"

// diskFree is the space an unprivileged writer may still use in dir.
func diskFree(dir string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return uint64(st.Bavail) * uint64(st.Bsize), nil
}
