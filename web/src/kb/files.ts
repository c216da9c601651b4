/**
 * Choosing what to upload: files from a picker, a folder picker (`webkitdirectory`) or a drop (where folders
 * arrive as FileSystemEntry trees), sorted into what the knowledge base reads and what it does not.
 */

/** What the server's extractors read (src/kb); anything else is skipped before upload, and the user told. */
export const SUPPORTED_EXTENSIONS = [
  ".txt",
  ".md",
  ".markdown",
  ".html",
  ".htm",
  ".pdf",
  ".docx",
  ".csv",
  ".json",
];

/** The server's default per-file limit (`--kb-max-file-size`, 50 MiB): checked here too for a friendlier message. */
export const MAX_FILE_BYTES = 50 * 1024 * 1024;

export interface Picked {
  file: File;
  /** Where it was in the chosen folder ("notes/setup.md"), or just its name. */
  path: string;
}

export interface Sorted {
  accepted: Picked[];
  /** Paths of files with an extension the knowledge base does not read. */
  unsupported: string[];
  tooLarge: Picked[];
}

export function extensionOf(name: string): string {
  const dot = name.lastIndexOf(".");
  return dot > 0 ? name.slice(dot).toLowerCase() : "";
}

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** A dot-file or anything inside a dot-folder (.git, .DS_Store): never meant as a document, so left out quietly. */
export function isHidden(path: string): boolean {
  return path.split("/").some((part) => part.startsWith("."));
}

export function sortPicked(picked: readonly Picked[], maxBytes = MAX_FILE_BYTES): Sorted {
  const sorted: Sorted = { accepted: [], unsupported: [], tooLarge: [] };
  for (const item of picked) {
    if (isHidden(item.path)) continue;
    if (!SUPPORTED_EXTENSIONS.includes(extensionOf(item.path))) sorted.unsupported.push(item.path);
    else if (item.file.size > maxBytes) sorted.tooLarge.push(item);
    else sorted.accepted.push(item);
  }
  return sorted;
}

/** An `<input type=file>`'s files; a folder picker gives each its path inside the folder. */
export function fromFileList(list: FileList | null): Picked[] {
  return Array.from(list ?? [], (file) => ({ file, path: file.webkitRelativePath || file.name }));
}

/**
 * The entries of a drop. Must run inside the drop event: the DataTransfer's items are emptied once the
 * handler returns, so the (asynchronous) walk through folders starts from what is taken here.
 */
export function dropEntries(data: DataTransfer): (FileSystemEntry | File)[] {
  const taken: (FileSystemEntry | File)[] = [];
  for (const item of Array.from(data.items)) {
    if (item.kind !== "file") continue;
    const entry = item.webkitGetAsEntry?.();
    const file = entry ? undefined : item.getAsFile();
    if (entry) taken.push(entry);
    else if (file) taken.push(file);
  }
  return taken;
}

/** Every file under the dropped entries, folders walked recursively. */
export async function walkEntries(entries: readonly (FileSystemEntry | File)[]): Promise<Picked[]> {
  const picked: Picked[] = [];
  const visit = async (entry: FileSystemEntry): Promise<void> => {
    if (isFileEntry(entry)) {
      const file = await new Promise<File>((resolve, reject) => entry.file(resolve, reject));
      picked.push({ file, path: entry.fullPath.replace(/^\//, "") || file.name });
    } else if (isDirectoryEntry(entry)) {
      if (entry.name.startsWith(".")) return;
      for (const child of await readAll(entry)) await visit(child);
    }
  };
  for (const entry of entries) {
    if (entry instanceof File) picked.push({ file: entry, path: entry.name });
    else await visit(entry);
  }
  return picked;
}

/** readEntries gives a folder's entries in batches (100 in Chromium) until it gives none. */
async function readAll(dir: FileSystemDirectoryEntry): Promise<FileSystemEntry[]> {
  const reader = dir.createReader();
  const all: FileSystemEntry[] = [];
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) =>
      reader.readEntries(resolve, reject),
    );
    if (batch.length === 0) return all;
    all.push(...batch);
  }
}

function isFileEntry(entry: FileSystemEntry): entry is FileSystemFileEntry {
  return entry.isFile;
}

function isDirectoryEntry(entry: FileSystemEntry): entry is FileSystemDirectoryEntry {
  return entry.isDirectory;
}
