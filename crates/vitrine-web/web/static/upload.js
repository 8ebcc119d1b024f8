// Demo recordings, uploaded resumably: a small tus 1.0 client (core + creation) for the
// go-live page's upload widget (#upload). Written by hand so the page loads nothing from
// elsewhere (the Content-Security-Policy allows only this site's scripts).
//
// For each chosen file: POST creates the upload (Upload-Length, Upload-Metadata), then
// PATCHes send 8 MiB chunks at Upload-Offset. A dropped connection, a 409 (offset moved)
// or a 423 (the upload is busy) re-reads the offset with HEAD and resumes after a growing
// pause, so the bar survives a flaky network. The upload URL is remembered in localStorage,
// so reloading the page and choosing the same file resumes it. A finished upload is a
// recording with the upload's id; it is added to the round through the page (a form post
// with the page's CSRF token), then the page reloads to list it.
(function () {
  "use strict";

  var CHUNK_BYTES = 8 * 1024 * 1024;
  var RETRY_DELAYS_MS = [1000, 2000, 4000, 8000, 15000, 30000];
  var MAX_ATTEMPTS = 20;

  var root = document.getElementById("upload");
  var input = document.getElementById("upload-file");
  var bar = document.getElementById("upload-progress");
  var statusLine = document.getElementById("upload-status");
  if (!root || !input || !bar || !statusLine) {
    return;
  }
  var endpoint = root.getAttribute("data-endpoint");
  var attachUrl = root.getAttribute("data-attach");
  var submission = root.getAttribute("data-submission");
  var csrfField = document.querySelector('input[name="_csrf"]');

  // A message of the page's language, with {name} placeholders filled.
  function say(kind, values) {
    var text = root.getAttribute("data-msg-" + kind) || kind;
    return text.replace(/\{(\w+)\}/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole;
    });
  }

  function show(text, isError) {
    statusLine.textContent = text;
    statusLine.classList.toggle("error", Boolean(isError));
  }

  function progress(file, sent) {
    var percent = file.size === 0 ? 100 : Math.floor((sent / file.size) * 100);
    bar.hidden = false;
    bar.value = percent;
    bar.textContent = percent + "%";
    show(say("progress", { file: file.name, percent: percent }), false);
  }

  function storageKey(file) {
    return ["vitrine-upload", submission, file.name, file.size, file.lastModified].join(":");
  }

  function remembered(file) {
    try {
      return window.localStorage.getItem(storageKey(file));
    } catch (e) {
      return null;
    }
  }

  function remember(file, url) {
    try {
      if (url) {
        window.localStorage.setItem(storageKey(file), url);
      } else {
        window.localStorage.removeItem(storageKey(file));
      }
    } catch (e) {
      // Private browsing may refuse storage: uploads still work, without resuming a reload.
    }
  }

  function base64(text) {
    var bytes = new TextEncoder().encode(text);
    var binary = "";
    for (var i = 0; i < bytes.length; i += 1) {
      binary += String.fromCharCode(bytes[i]);
    }
    return window.btoa(binary);
  }

  function sleep(ms) {
    return new Promise(function (resolve) {
      window.setTimeout(resolve, ms);
    });
  }

  // One HTTP request; resolves with {status, headers, body} (status 0: no answer).
  function request(method, url, headers, body, onProgress) {
    return new Promise(function (resolve) {
      var xhr = new XMLHttpRequest();
      xhr.open(method, url, true);
      xhr.withCredentials = true;
      xhr.setRequestHeader("Tus-Resumable", "1.0.0");
      Object.keys(headers).forEach(function (name) {
        xhr.setRequestHeader(name, headers[name]);
      });
      if (onProgress && xhr.upload) {
        xhr.upload.onprogress = function (event) {
          onProgress(event.loaded);
        };
      }
      xhr.onload = function () {
        resolve({
          status: xhr.status,
          header: function (name) {
            return xhr.getResponseHeader(name);
          },
          body: xhr.responseText
        });
      };
      xhr.onerror = xhr.ontimeout = xhr.onabort = function () {
        resolve({ status: 0, header: function () { return null; }, body: "" });
      };
      xhr.send(body === undefined ? null : body);
    });
  }

  function problemDetail(reply) {
    try {
      var problem = JSON.parse(reply.body);
      return problem.detail || problem.title || String(reply.status);
    } catch (e) {
      return String(reply.status || "network");
    }
  }

  // Why an upload stopped for good, as a message for the reader.
  function failure(file, reply) {
    if (reply.status === 415) {
      return say("not-video", { file: file.name });
    }
    if (reply.status === 413) {
      return say("too-large", { file: file.name });
    }
    if (reply.status === 403 || (reply.status === 409 && !reply.resumable)) {
      return say("closed", {});
    }
    return say("failed", { file: file.name, reason: problemDetail(reply) });
  }

  function UploadStopped(message) {
    this.message = message;
  }

  async function create(file) {
    var metadata = "filename " + base64(file.name);
    if (file.type) {
      metadata += ",filetype " + base64(file.type);
    }
    var reply = await request("POST", endpoint, {
      "Upload-Length": String(file.size),
      "Upload-Metadata": metadata
    });
    if (reply.status !== 201 || !reply.header("Location")) {
      throw new UploadStopped(failure(file, reply));
    }
    return new URL(reply.header("Location"), window.location.href).pathname;
  }

  // The server's offset for `url`, or null when the upload is gone (finished or expired).
  async function offsetOf(url) {
    for (var attempt = 0; ; attempt += 1) {
      var reply = await request("HEAD", url, {});
      if (reply.status === 200) {
        return Number(reply.header("Upload-Offset"));
      }
      if (reply.status === 404 || reply.status === 410) {
        return null;
      }
      if (reply.status !== 0 && reply.status !== 423 && reply.status < 500) {
        throw new UploadStopped(failure({ name: "" }, reply));
      }
      if (attempt >= MAX_ATTEMPTS) {
        throw new UploadStopped(say("failed", { file: "", reason: problemDetail(reply) }));
      }
      await sleep(RETRY_DELAYS_MS[Math.min(attempt, RETRY_DELAYS_MS.length - 1)]);
    }
  }

  // Sends `file` from wherever the server is; resolves with the upload URL once complete.
  async function send(file, url) {
    var offset = await offsetOf(url);
    if (offset === null) {
      return null;
    }
    var failures = 0;
    progress(file, offset);
    while (offset < file.size) {
      var chunk = file.slice(offset, Math.min(offset + CHUNK_BYTES, file.size));
      var start = offset;
      var reply = await request(
        "PATCH",
        url,
        { "Upload-Offset": String(offset), "Content-Type": "application/offset+octet-stream" },
        chunk,
        function (loaded) {
          progress(file, start + loaded);
        }
      );
      if (reply.status === 204) {
        offset = Number(reply.header("Upload-Offset"));
        failures = 0;
        progress(file, offset);
        continue;
      }
      if (reply.status === 0 || reply.status === 409 || reply.status === 423 || reply.status >= 500) {
        // Where did the server get to? Resume from there after a pause.
        failures += 1;
        if (failures > MAX_ATTEMPTS) {
          throw new UploadStopped(say("failed", { file: file.name, reason: problemDetail(reply) }));
        }
        show(say("resuming", { file: file.name }), false);
        await sleep(RETRY_DELAYS_MS[Math.min(failures - 1, RETRY_DELAYS_MS.length - 1)]);
        var resumed = await offsetOf(url);
        if (resumed === null) {
          // The last chunk landed but its answer was lost: the upload is a recording now.
          return url;
        }
        offset = resumed;
        progress(file, offset);
        continue;
      }
      throw new UploadStopped(failure(file, reply));
    }
    return url;
  }

  // Adds the finished recording (its id is the upload's) to the round, as a form would.
  async function attach(url) {
    var recordingId = url.split("/").pop();
    var body = new URLSearchParams();
    body.set("_csrf", csrfField ? csrfField.value : "");
    body.set("recording_id", recordingId);
    var reply = await window.fetch(attachUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: body.toString()
    });
    return reply.ok;
  }

  async function upload(file) {
    if (file.size === 0) {
      throw new UploadStopped(say("not-video", { file: file.name }));
    }
    var url = remembered(file);
    var done = url ? await send(file, url) : null;
    if (!done) {
      // Nothing to resume (never started, finished or expired): start afresh.
      url = await create(file);
      remember(file, url);
      done = await send(file, url);
    }
    remember(file, null);
    if (!done) {
      throw new UploadStopped(say("failed", { file: file.name, reason: "404" }));
    }
    await attach(done);
    show(say("done", { file: file.name }), false);
  }

  input.disabled = false;
  input.addEventListener("change", async function () {
    var files = Array.prototype.slice.call(input.files || []);
    if (files.length === 0) {
      return;
    }
    input.disabled = true;
    var uploaded = 0;
    for (var i = 0; i < files.length; i += 1) {
      try {
        await upload(files[i]);
        uploaded += 1;
      } catch (error) {
        // A remembered URL is kept: the next try resumes it, or starts afresh if the
        // server dropped it (a refused file's bytes are never kept).
        if (error instanceof UploadStopped) {
          show(error.message, true);
        } else {
          show(say("failed", { file: files[i].name, reason: String(error) }), true);
        }
        bar.hidden = true;
      }
    }
    input.disabled = false;
    input.value = "";
    if (uploaded === files.length) {
      // The page lists the round's recordings: show the new ones.
      window.location.reload();
    }
  });
})();
