# The delay fault's proxy (ducttape-services/src/faults/delay.rs starts it on a node).
#
# Connections that iptables REDIRECTs here are forwarded to their original destination
# (SO_ORIGINAL_DST), and every chunk read from either side is written to the other side
# DELAY_MS after it arrived, in order. Usage: delay_proxy.py PORT_FILE DELAY_MS
# It listens on a free port, writes that port to PORT_FILE, and serves until killed.
import asyncio
import os
import socket
import struct
import sys
import time

SO_ORIGINAL_DST = 80
CHUNK = 65536
# Chunks in flight per direction before reading waits (back pressure).
IN_FLIGHT = 256


async def pipe(reader, writer, delay):
    queue = asyncio.Queue(maxsize=IN_FLIGHT)

    async def send():
        while True:
            due, data = await queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    sender = asyncio.create_task(send())
    try:
        while True:
            data = await reader.read(CHUNK)
            await queue.put((time.monotonic() + delay, data))
            if not data:
                break
        await sender
    finally:
        sender.cancel()


async def handle(client_reader, client_writer, delay):
    sock = client_writer.get_extra_info("socket")
    try:
        dst = sock.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
        port, ip = struct.unpack("!2xH4s8x", dst)
        server_reader, server_writer = await asyncio.open_connection(
            socket.inet_ntoa(ip), port
        )
    except OSError as e:
        print(f"cannot forward: {e}", file=sys.stderr, flush=True)
        client_writer.close()
        return
    await asyncio.gather(
        pipe(client_reader, server_writer, delay),
        pipe(server_reader, client_writer, delay),
        return_exceptions=True,
    )
    server_writer.close()
    client_writer.close()


async def main():
    port_file, delay = sys.argv[1], float(sys.argv[2]) / 1000
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, delay), "0.0.0.0", 0
    )
    port = server.sockets[0].getsockname()[1]
    with open(port_file + ".tmp", "w") as f:
        f.write(f"{port}\n")
    os.rename(port_file + ".tmp", port_file)
    await server.serve_forever()


asyncio.run(main())
