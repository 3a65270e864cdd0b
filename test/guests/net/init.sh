#!/bin/sh
# /init of the network test image (scripts/net-initramfs.ts adds it to the shared busybox
# initramfs). Without nettest= on the kernel command line it is the busybox image's shell with the
# network tools; with it, a fixed self-test that prints "net: ..." lines and powers off
# (test/guests/net/README.md lists them).
#
#   nettest=user  [netfetch=URL] [netdns=NAME] [nethttpd=1]   user network (--netdev user)
#   nettest=lan   netip=A.B.C.D netpeer=A.B.C.D               a switch between VMs
#   nettest=bench netsink=HOST:PORT netmb=N                   TCP throughput guest -> host
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
echo "guest: network image up, kernel $(uname -r)"
arg() {
  for w in $(cat /proc/cmdline); do
    case "$w" in "$1="*) echo "${w#*=}" ;; esac
  done
}
# An Icmp counter of /proc/net/snmp (InEchos: echo requests received, InEchoReps: replies).
icmp() {
  awk -v k="$1" '/^Icmp:/ { if (!n) { for (i = 1; i <= NF; i++) if ($i == k) c = i; n = 1 } else print $c }' /proc/net/snmp
}
mode=$(arg nettest)
[ -z "$mode" ] && exec setsid cttyhack sh
ifconfig lo 127.0.0.1 up
if [ ! -e /sys/class/net/eth0 ]; then
  echo "net: no eth0"
  echo "AUTOTEST DONE"
  poweroff -f
fi
echo "net: eth0 mac $(cat /sys/class/net/eth0/address)"
case "$mode" in
user | bench)
  if udhcpc -i eth0 -f -q -n -t 5 -T 2 -s /etc/udhcpc.script >/tmp/udhcpc.log 2>&1; then
    echo "net: dhcp ok $(cat /tmp/lease) router $(cat /tmp/router) dns $(cat /tmp/dns)"
  else
    echo "net: dhcp FAILED"
    cat /tmp/udhcpc.log
  fi
  ;;
lan)
  ifconfig eth0 "$(arg netip)" netmask 255.255.255.0 up
  echo "net: eth0 $(arg netip)"
  ;;
esac
case "$mode" in
user)
  if ping -c 3 -W 3 10.0.2.2 >/tmp/ping.log 2>&1; then
    echo "net: ping gateway ok ($(grep -c 'bytes from 10.0.2.2' /tmp/ping.log) replies)"
  else
    echo "net: ping gateway FAILED"
    cat /tmp/ping.log
  fi
  url=$(arg netfetch)
  if [ -n "$url" ]; then
    if wget -q -T 10 -O /tmp/fetched "$url" 2>/tmp/wget.log; then
      echo "net: wget ok: $(cat /tmp/fetched)"
    else
      echo "net: wget FAILED: $(cat /tmp/wget.log)"
    fi
  fi
  name=$(arg netdns)
  if [ -n "$name" ]; then
    addr=$(nslookup "$name" 2>/dev/null | awk '/^Address/ { a = $NF } END { print a }')
    [ -n "$addr" ] && echo "net: dns $name $addr" || echo "net: dns $name FAILED"
  fi
  if [ "$(arg nethttpd)" = 1 ]; then
    mkdir -p /www/cgi-bin
    echo "hello from the guest's httpd" >/www/index.html
    printf '#!/bin/sh\ntouch /tmp/fetched-by-host\nprintf "Content-Type: text/plain\\r\\n\\r\\n"\necho "guest cgi ok"\n' >/www/cgi-bin/done
    chmod +x /www/cgi-bin/done
    httpd -p 80 -h /www
    echo "net: httpd ready"
    i=0
    while [ ! -e /tmp/fetched-by-host ] && [ $i -lt 120 ]; do
      sleep 1
      i=$((i + 1))
    done
    [ -e /tmp/fetched-by-host ] && echo "net: host fetched from httpd" || echo "net: httpd not fetched"
  fi
  ;;
lan)
  # VMs of one host keep their own virtual clocks (an idle VM's clock jumps ahead at no host cost,
  # docs/NETWORK.md), so timeouts say nothing about the peer's progress: count in the kernel's ICMP
  # counters instead, with loops bounded by a number of tries.
  peer=$(arg netpeer)
  ok=0
  for i in $(seq 1 300); do
    if ping -c 1 -W 1 "$peer" >/dev/null 2>&1; then
      ok=1
      break
    fi
  done
  if [ $ok = 1 ]; then
    ping -c 3 "$peer" >/dev/null 2>&1
    # Our 1 + 3 echo replies, and the peer's 1 + 3 echo requests (so it gets its answers).
    i=0
    while { [ "$(icmp InEchoReps)" -lt 4 ] || [ "$(icmp InEchos)" -lt 4 ]; } && [ $i -lt 600 ]; do
      sleep 1
      i=$((i + 1))
    done
    echo "net: ping $peer ok ($(($(icmp InEchoReps) - 1)) replies)"
  else
    echo "net: ping $peer FAILED"
  fi
  echo "net: answered $(icmp InEchos) echo requests"
  ;;
bench)
  sink=$(arg netsink)
  mb=$(arg netmb)
  echo "net: bench start"
  dd if=/dev/zero bs=65536 count=$((mb * 16)) 2>/dev/null | nc "${sink%:*}" "${sink#*:}"
  echo "net: bench sent $mb MiB"
  ;;
esac
echo "AUTOTEST DONE"
poweroff -f
