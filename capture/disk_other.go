//go:build !unix

package capture

import "errors"

func diskFree(dir string) (uint64, error) {
	return 0, errors.New("free space is not measured on this OS")
}
