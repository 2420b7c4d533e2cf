package modbus

// crcTable is the table for the Modbus CRC-16 (reflected polynomial 0xA001,
// initial value 0xFFFF), one entry per byte value.
var crcTable = func() [256]uint16 {
	var t [256]uint16
	for i := range t {
		crc := uint16(i)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xA001
			} else {
				crc >>= 1
			}
		}
		t[i] = crc
	}
	return t
}()

// CRC16 is the Modbus RTU CRC of b. On the wire it is sent low byte first.
func CRC16(b []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, c := range b {
		crc = crc>>8 ^ crcTable[byte(crc)^c]
	}
	return crc
}

// AppendCRC appends the CRC of b to b, low byte first, as RTU frames carry it.
func AppendCRC(b []byte) []byte {
	crc := CRC16(b)
	return append(b, byte(crc), byte(crc>>8))
}

// CRCValid reports whether frame (address, PDU and two CRC bytes) ends with
// the CRC of what precedes it.
func CRCValid(frame []byte) bool {
	if len(frame) < 3 {
		return false
	}
	n := len(frame) - 2
	crc := CRC16(frame[:n])
	return frame[n] == byte(crc) && frame[n+1] == byte(crc>>8)
}
