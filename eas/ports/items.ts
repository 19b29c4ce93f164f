// What ItemOperations, GetAttachment, MoveItems, FolderCreate/FolderUpdate/FolderDelete need from the mail service.

export interface ItemsPort {
  /** Placeholder until that work defines it. */
  readonly ready: boolean;
}
