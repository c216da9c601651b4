import { type DragEvent, useCallback, useEffect, useMemo, useRef, useState } from "react";
import { ApiError } from "../api.js";
import { Icon } from "../components/icons.js";
import { format, type Strings, useStrings } from "../i18n.js";
import type { AnswerError } from "../types.js";
import { listStoreFiles, removeFileFromStore } from "./api.js";
import { apiProblem, ingestProblem, ProblemText, uploadProblem } from "./errors.js";
import {
  dropEntries,
  fromFileList,
  MAX_FILE_BYTES,
  type Picked,
  SUPPORTED_EXTENSIONS,
  sortPicked,
  walkEntries,
} from "./files.js";
import { formatBytes, listNames } from "./format.js";
import type { StoreFile } from "./types.js";
import {
  cancelUpload,
  canRetry,
  enqueue,
  forgetUploads,
  retryUpload,
  type Upload,
  uploadedNames,
  useUploads,
} from "./uploads.js";
import { usePoll } from "./useStores.js";

export interface StoreViewProps {
  storeId: string;
  /** Files were added, indexed or removed: the store's counts changed. */
  onChanged(): void;
  onOpenChunks(fileId: string, filename: string): void;
}

/**
 * One store's files: add them (picker, folder picker, drag and drop of files and folders), watch each upload
 * and then its indexing (polled every second while anything is in progress), see chunk counts and errors,
 * open a file's chunks, remove a file.
 */
export function StoreView({ storeId, onChanged, onOpenChunks }: StoreViewProps) {
  const t = useStrings();
  const [files, setFiles] = useState<StoreFile[]>();
  const [loadError, setLoadError] = useState<AnswerError>();
  const [skipped, setSkipped] = useState<string[]>([]);
  const [dragging, setDragging] = useState(0);
  const allUploads = useUploads();
  const uploads = useMemo(() => allUploads.filter((u) => u.storeId === storeId), [allUploads, storeId]);
  const seq = useRef(0);
  const current = useRef<StoreFile[]>(undefined);
  const changed = useRef(onChanged);
  changed.current = onChanged;

  const load = useCallback(async () => {
    const mine = ++seq.current;
    try {
      const list = await listStoreFiles(storeId);
      if (mine !== seq.current) return;
      const before = current.current;
      current.current = list;
      setFiles(list);
      setLoadError(undefined);
      // A file that finished indexing (or appeared) changes the store's counts in the list behind.
      if (before && list.some((f) => before.find((b) => b.id === f.id)?.status !== f.status))
        changed.current();
    } catch (error) {
      if (mine !== seq.current) return;
      setLoadError(error instanceof ApiError ? error.error : { kind: "server", message: String(error) });
    }
  }, [storeId]);

  useEffect(() => {
    void load();
  }, [load]);

  // Finished uploads stand in for their files until the store's list has them; then they are forgotten.
  const listed = useMemo(() => new Set(files?.map((f) => f.id)), [files]);
  useEffect(() => {
    const shown = uploads.filter((u) => u.phase === "done" && u.file && listed.has(u.file.id));
    forgetUploads(new Set(shown.map((u) => u.key)));
  }, [uploads, listed]);
  const pendingFiles = uploads.flatMap((u) =>
    u.phase === "done" && u.file && !listed.has(u.file.id) ? [u.file] : [],
  );
  const shownFiles = [...pendingFiles, ...(files ?? [])];
  const active = uploads.filter((u) => u.phase !== "done");

  usePoll(
    load,
    shownFiles.some((f) => f.status === "in_progress") || active.some((u) => u.phase !== "failed"),
  );

  const add = (picked: Picked[]) => {
    const sorted = sortPicked(picked);
    enqueue(storeId, sorted.accepted, sorted.tooLarge, MAX_FILE_BYTES);
    // Kept (and added to) until dismissed: a second pick should not hide what the first one skipped.
    if (sorted.unsupported.length > 0)
      setSkipped((before) => [...new Set([...before, ...sorted.unsupported])]);
  };

  const onDrop = (event: DragEvent) => {
    event.preventDefault();
    setDragging(0);
    const entries = dropEntries(event.dataTransfer);
    void walkEntries(entries).then(add);
  };
  const isFileDrag = (event: DragEvent) => event.dataTransfer.types.includes("Files");

  const remove = async (file: StoreFile) => {
    current.current = current.current?.filter((f) => f.id !== file.id);
    setFiles(current.current);
    try {
      await removeFileFromStore(storeId, file.id);
    } catch (error) {
      if (!(error instanceof ApiError && error.error.code === "vector_store_not_found"))
        setLoadError(error instanceof ApiError ? error.error : { kind: "server", message: String(error) });
    }
    void load();
    changed.current();
  };

  return (
    // biome-ignore lint/a11y/noStaticElementInteractions: a drop target; the pickers inside are the keyboard's way in.
    <div
      className={`panel-body kb-body kb-files${dragging > 0 ? " dragging" : ""}`}
      onDragEnter={(e) => {
        if (!isFileDrag(e)) return;
        e.preventDefault();
        setDragging((n) => n + 1);
      }}
      onDragOver={(e) => {
        if (!isFileDrag(e)) return;
        e.preventDefault();
        e.dataTransfer.dropEffect = "copy";
      }}
      onDragLeave={(e) => {
        if (isFileDrag(e)) setDragging((n) => Math.max(0, n - 1));
      }}
      onDrop={onDrop}
      data-testid="store-files"
    >
      <DropZone dragging={dragging > 0} onPick={add} />
      {skipped.length > 0 && <SkippedNotice paths={skipped} onDismiss={() => setSkipped([])} />}
      {loadError && <ProblemText problem={apiProblem(loadError, t)} />}
      {active.length > 0 && (
        <ul className="kb-uploads" aria-label={t.kbTabFiles}>
          {active.map((u) => (
            <UploadRow key={u.key} upload={u} />
          ))}
        </ul>
      )}
      {files === undefined && !loadError && <p className="muted small">{t.kbLoading}</p>}
      {files !== undefined && shownFiles.length === 0 && active.length === 0 && (
        <p className="muted small">{t.kbNoFiles}</p>
      )}
      {shownFiles.length > 0 && (
        <ul className="kb-file-list">
          {shownFiles.map((file) => (
            <FileRow
              key={file.id}
              file={file}
              onOpen={() => onOpenChunks(file.id, fileName(file))}
              onRemove={() => void remove(file)}
            />
          ))}
        </ul>
      )}
    </div>
  );
}

export function fileName(file: StoreFile): string {
  return file.filename || uploadedNames.get(file.id) || file.id;
}

function DropZone({ dragging, onPick }: { dragging: boolean; onPick(picked: Picked[]): void }) {
  const t = useStrings();
  const files = useRef<HTMLInputElement>(null);
  const folder = useRef<HTMLInputElement>(null);
  // React has no prop for it; Chromium, Firefox and Safari all read the attribute.
  const folderRef = useCallback((input: HTMLInputElement | null) => {
    folder.current = input;
    input?.setAttribute("webkitdirectory", "");
  }, []);
  const take = (input: HTMLInputElement) => {
    onPick(fromFileList(input.files));
    input.value = "";
  };
  return (
    <div className={`kb-drop${dragging ? " active" : ""}`} data-testid="drop-zone">
      <Icon name="upload" size={22} />
      <strong>{dragging ? t.kbDropNow : t.kbDrop}</strong>
      <span className="row kb-drop-buttons">
        <span className="muted small">{t.kbOr}</span>
        <button type="button" className="ghost outlined" onClick={() => files.current?.click()}>
          <Icon name="file" size={16} /> {t.kbChooseFiles}
        </button>
        <button type="button" className="ghost outlined" onClick={() => folder.current?.click()}>
          <Icon name="folder" size={16} /> {t.kbChooseFolder}
        </button>
      </span>
      <span className="muted small">
        {format(t.kbSupported, { types: SUPPORTED_EXTENSIONS.join(" "), limit: formatBytes(MAX_FILE_BYTES) })}
      </span>
      <input
        ref={files}
        type="file"
        multiple
        accept={SUPPORTED_EXTENSIONS.join(",")}
        hidden
        data-testid="pick-files"
        onChange={(e) => take(e.currentTarget)}
      />
      <input
        ref={folderRef}
        type="file"
        multiple
        hidden
        data-testid="pick-folder"
        onChange={(e) => take(e.currentTarget)}
      />
    </div>
  );
}

function SkippedNotice({ paths, onDismiss }: { paths: string[]; onDismiss(): void }) {
  const t = useStrings();
  const { text, more } = listNames(paths, t.kbListSeparator);
  const names = more > 0 ? text + format(t.kbAndMore, { n: more }) : text;
  return (
    <div className="kb-notice" role="status" data-testid="skipped">
      <Icon name="alert" size={15} />
      <span className="grow">
        {paths.length === 1
          ? format(t.kbSkippedOne, { names })
          : format(t.kbSkipped, { n: paths.length, names })}
      </span>
      <button
        type="button"
        className="icon-button"
        aria-label={t.kbDismiss}
        title={t.kbDismiss}
        onClick={onDismiss}
      >
        <Icon name="close" size={15} />
      </button>
    </div>
  );
}

function UploadRow({ upload }: { upload: Upload }) {
  const t = useStrings();
  const pct = upload.bytes > 0 ? Math.min(100, Math.round((upload.loaded / upload.bytes) * 100)) : 0;
  const failed = upload.phase === "failed";
  return (
    <li className={`kb-file${failed ? " failed" : ""}`} data-upload={upload.path}>
      <Icon name="file" size={18} />
      <div className="grow">
        <div className="kb-file-name ellipsis" title={upload.path}>
          {upload.path}
        </div>
        {failed && upload.problem ? (
          <ProblemText problem={uploadProblem(upload.problem, t)} />
        ) : (
          <>
            <div
              className="kb-progress"
              role="progressbar"
              aria-valuenow={pct}
              aria-valuemin={0}
              aria-valuemax={100}
            >
              <div style={{ width: `${upload.phase === "queued" ? 0 : pct}%` }} />
            </div>
            <span className="muted small">
              {upload.phase === "queued"
                ? t.kbQueued
                : upload.phase === "adding"
                  ? t.kbAdding
                  : format(t.kbUploading, { pct })}{" "}
              · {formatBytes(upload.bytes)}
            </span>
          </>
        )}
      </div>
      {failed && canRetry(upload.key) && (
        <button
          type="button"
          className="icon-button"
          aria-label={t.retry}
          title={t.retry}
          onClick={() => retryUpload(upload.key)}
        >
          <Icon name="refresh" size={15} />
        </button>
      )}
      <button
        type="button"
        className="icon-button"
        aria-label={failed ? t.kbDismiss : t.kbCancelUpload}
        title={failed ? t.kbDismiss : t.kbCancelUpload}
        onClick={() => cancelUpload(upload.key)}
      >
        <Icon name="close" size={15} />
      </button>
    </li>
  );
}

function FileRow({ file, onOpen, onRemove }: { file: StoreFile; onOpen(): void; onRemove(): void }) {
  const t = useStrings();
  const [confirming, setConfirming] = useState(false);
  const name = fileName(file);
  return (
    <li className={`kb-file ${file.status}`} data-file-id={file.id} data-status={file.status}>
      <Icon name="file" size={18} />
      <div className="grow">
        {file.status === "completed" ? (
          <button
            type="button"
            className="kb-file-name link ellipsis"
            title={t.kbViewChunks}
            onClick={onOpen}
          >
            {name}
          </button>
        ) : (
          <div className="kb-file-name ellipsis" title={name}>
            {name}
          </div>
        )}
        <div className="kb-file-meta small">
          <StatusBadge file={file} t={t} />
          {file.bytes > 0 && <span className="muted">{formatBytes(file.bytes)}</span>}
        </div>
        {file.status === "failed" && file.error && <ProblemText problem={ingestProblem(file.error, t)} />}
      </div>
      {file.status === "completed" && (
        <button
          type="button"
          className="icon-button"
          aria-label={`${t.kbViewChunks}: ${name}`}
          title={t.kbViewChunks}
          onClick={onOpen}
        >
          <Icon name="list" size={15} />
        </button>
      )}
      {confirming ? (
        <button
          type="button"
          className="danger small-button"
          onClick={onRemove}
          onBlur={() => setConfirming(false)}
          // biome-ignore lint/a11y/noAutofocus: focus moves to the confirmation the user just opened.
          autoFocus
        >
          {t.confirmDelete}
        </button>
      ) : (
        <button
          type="button"
          className="icon-button"
          aria-label={`${t.kbRemoveFile}: ${name}`}
          title={t.kbRemoveFile}
          onClick={() => setConfirming(true)}
        >
          <Icon name="trash" size={15} />
        </button>
      )}
    </li>
  );
}

function StatusBadge({ file, t }: { file: StoreFile; t: Strings }) {
  switch (file.status) {
    case "in_progress":
      return (
        <span className="kb-badge progress" data-testid="status">
          <span className="kb-spinner" aria-hidden="true" />
          {t.kbIndexing}
        </span>
      );
    case "completed":
      return (
        <span className="kb-badge done" data-testid="status">
          <Icon name="check" size={13} />
          {file.chunkCount === 1 ? t.kbChunkOne : format(t.kbChunksN, { n: file.chunkCount ?? 0 })}
        </span>
      );
    case "failed":
      return (
        <span className="kb-badge failed" data-testid="status">
          <Icon name="alert" size={13} />
          {t.kbFailed}
        </span>
      );
    default:
      return (
        <span className="kb-badge" data-testid="status">
          {t.kbCancelled}
        </span>
      );
  }
}
