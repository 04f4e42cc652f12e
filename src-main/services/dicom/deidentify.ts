import fs from 'node:fs';
import zlib from 'node:zlib';
import dicomParser, { type DataSet } from 'dicom-parser';
import { hasDicmMagic, inflateDataSet, type ParseOptions } from './dicom';

/**
 * Attributes whose values are blanked in exported files, after the DICOM PS3.15 Annex E basic
 * application level confidentiality profile: the people involved (patient, physicians,
 * operators), the visit and the order (accession, admission, requested and performed procedure
 * steps), where and on what (institution, station, device serial numbers), and free text that
 * may hold any of these (descriptions, comments, protocol names). Every date, time and date-time
 * is blanked too, by VR where the file states it (see `TEMPORAL_VRS`) and by this list where it
 * does not (implicit VR). Sequences listed here are blanked with everything they contain.
 * Besides these: the whole patient group (0010,xxxx), the visit group (0038,xxxx), the retired
 * results group (4008,xxxx), overlay data and comments (60xx,3000 and 60xx,4000), and private
 * elements. UIDs are kept: they are what ties frames, series and studies together.
 */
const IDENTIFYING = new Set([
  // File meta information: the applications that wrote or sent the file.
  'x00020016', // SourceApplicationEntityTitle
  'x00020017', // SendingApplicationEntityTitle
  'x00020018', // ReceivingApplicationEntityTitle
  'x00020102', // PrivateInformation
  // General study, series, equipment and instance attributes.
  'x00080012', // InstanceCreationDate
  'x00080013', // InstanceCreationTime
  'x00080015', // InstanceCoercionDateTime
  'x00080020', // StudyDate
  'x00080021', // SeriesDate
  'x00080022', // AcquisitionDate
  'x00080023', // ContentDate
  'x00080024', // OverlayDate
  'x00080025', // CurveDate
  'x0008002a', // AcquisitionDateTime
  'x00080030', // StudyTime
  'x00080031', // SeriesTime
  'x00080032', // AcquisitionTime
  'x00080033', // ContentTime
  'x00080034', // OverlayTime
  'x00080035', // CurveTime
  'x00080050', // AccessionNumber
  'x00080080', // InstitutionName
  'x00080081', // InstitutionAddress
  'x00080082', // InstitutionCodeSequence
  'x00080090', // ReferringPhysicianName
  'x00080092', // ReferringPhysicianAddress
  'x00080094', // ReferringPhysicianTelephoneNumbers
  'x00080096', // ReferringPhysicianIdentificationSequence
  'x0008009c', // ConsultingPhysicianName
  'x0008009d', // ConsultingPhysicianIdentificationSequence
  'x00080201', // TimezoneOffsetFromUTC
  'x00081010', // StationName
  'x00081030', // StudyDescription
  'x0008103e', // SeriesDescription
  'x00081040', // InstitutionalDepartmentName
  'x00081041', // InstitutionalDepartmentTypeCodeSequence
  'x00081048', // PhysiciansOfRecord
  'x00081049', // PhysiciansOfRecordIdentificationSequence
  'x00081050', // PerformingPhysicianName
  'x00081052', // PerformingPhysicianIdentificationSequence
  'x00081060', // NameOfPhysiciansReadingStudy
  'x00081062', // PhysiciansReadingStudyIdentificationSequence
  'x00081070', // OperatorsName
  'x00081072', // OperatorIdentificationSequence
  'x00081080', // AdmittingDiagnosesDescription
  'x00081084', // AdmittingDiagnosesCodeSequence
  'x00081120', // ReferencedPatientSequence
  'x00082111', // DerivationDescription
  'x00084000', // IdentifyingComments
  // Acquisition: protocol, devices, free text.
  'x00180010', // ContrastBolusAgent
  'x00181000', // DeviceSerialNumber
  'x00181004', // PlateID
  'x00181005', // GeneratorID
  'x00181007', // CassetteID
  'x00181008', // GantryID
  'x00181009', // UniqueDeviceIdentifier
  'x0018100a', // UDISequence
  'x00181010', // SecondaryCaptureDeviceID
  'x00181012', // DateOfSecondaryCapture
  'x00181014', // TimeOfSecondaryCapture
  'x00181030', // ProtocolName
  'x00181072', // RadiopharmaceuticalStartTime
  'x00181073', // RadiopharmaceuticalStopTime
  'x00181078', // RadiopharmaceuticalStartDateTime
  'x00181079', // RadiopharmaceuticalStopDateTime
  'x00181200', // DateOfLastCalibration
  'x00181201', // TimeOfLastCalibration
  'x00181400', // AcquisitionDeviceProcessingDescription
  'x00184000', // AcquisitionComments
  'x0018700a', // DetectorID
  'x00189074', // FrameAcquisitionDateTime
  'x00189151', // FrameReferenceDateTime
  'x00189185', // RespiratoryMotionCompensationTechniqueDescription
  'x00189367', // XRaySourceID
  'x00189371', // XRayDetectorID
  'x00189373', // XRayDetectorLabel
  'x00189424', // AcquisitionProtocolDescription
  'x00189516', // StartAcquisitionDateTime
  'x00189517', // EndAcquisitionDateTime
  'x00189701', // DecayCorrectionDateTime
  'x00189804', // ExclusionStartDateTime
  'x0018a002', // ContributionDateTime
  'x0018a003', // ContributionDescription
  // Image and frame.
  'x00200010', // StudyID
  'x00203401', // ModifyingDeviceID
  'x00203404', // ModifyingDeviceManufacturer
  'x00203406', // ModifiedImageDescription
  'x00204000', // ImageComments
  'x00209158', // FrameComments
  'x00284000', // ImagePresentationComments
  // Study scheduling and the request.
  'x00320012', // StudyIDIssuer
  'x00320032', // StudyVerifiedDate
  'x00320033', // StudyVerifiedTime
  'x00320034', // StudyReadDate
  'x00320035', // StudyReadTime
  'x00321000', // ScheduledStudyStartDate
  'x00321001', // ScheduledStudyStartTime
  'x00321010', // ScheduledStudyStopDate
  'x00321011', // ScheduledStudyStopTime
  'x00321020', // ScheduledStudyLocation
  'x00321021', // ScheduledStudyLocationAETitle
  'x00321030', // ReasonForStudy
  'x00321031', // RequestingPhysicianIdentificationSequence
  'x00321032', // RequestingPhysician
  'x00321033', // RequestingService
  'x00321040', // StudyArrivalDate
  'x00321041', // StudyArrivalTime
  'x00321050', // StudyCompletionDate
  'x00321051', // StudyCompletionTime
  'x00321060', // RequestedProcedureDescription
  'x00321066', // ReasonForVisit
  'x00321067', // ReasonForVisitCodeSequence
  'x00321070', // RequestedContrastAgent
  'x00324000', // StudyComments
  // Scheduled and performed procedure steps, the imaging service request, specimens.
  'x00400001', // ScheduledStationAETitle
  'x00400002', // ScheduledProcedureStepStartDate
  'x00400003', // ScheduledProcedureStepStartTime
  'x00400004', // ScheduledProcedureStepEndDate
  'x00400005', // ScheduledProcedureStepEndTime
  'x00400006', // ScheduledPerformingPhysicianName
  'x00400007', // ScheduledProcedureStepDescription
  'x00400009', // ScheduledProcedureStepID
  'x0040000b', // ScheduledPerformingPhysicianIdentificationSequence
  'x00400010', // ScheduledStationName
  'x00400011', // ScheduledProcedureStepLocation
  'x00400012', // PreMedication
  'x00400100', // ScheduledProcedureStepSequence
  'x00400241', // PerformedStationAETitle
  'x00400242', // PerformedStationName
  'x00400243', // PerformedLocation
  'x00400244', // PerformedProcedureStepStartDate
  'x00400245', // PerformedProcedureStepStartTime
  'x00400250', // PerformedProcedureStepEndDate
  'x00400251', // PerformedProcedureStepEndTime
  'x00400253', // PerformedProcedureStepID
  'x00400254', // PerformedProcedureStepDescription
  'x00400275', // RequestAttributesSequence
  'x00400280', // CommentsOnThePerformedProcedureStep
  'x00400310', // CommentsOnRadiationDose
  'x0040050a', // SpecimenAccessionNumber
  'x00400512', // ContainerIdentifier
  'x00400513', // IssuerOfTheContainerIdentifierSequence
  'x00400551', // SpecimenIdentifier
  'x00400555', // AcquisitionContextSequence
  'x00400562', // IssuerOfTheSpecimenIdentifierSequence
  'x00400600', // SpecimenShortDescription
  'x00400602', // SpecimenDetailedDescription
  'x004006fa', // SlideIdentifier
  'x00401001', // RequestedProcedureID
  'x00401004', // PatientTransportArrangements
  'x00401005', // RequestedProcedureLocation
  'x00401010', // NamesOfIntendedRecipientsOfResults
  'x00401011', // IntendedRecipientsOfResultsIdentificationSequence
  'x00401101', // PersonIdentificationCodeSequence
  'x00401102', // PersonAddress
  'x00401103', // PersonTelephoneNumbers
  'x00401400', // RequestedProcedureComments
  'x00402001', // ReasonForTheImagingServiceRequest
  'x00402004', // IssueDateOfImagingServiceRequest
  'x00402005', // IssueTimeOfImagingServiceRequest
  'x00402008', // OrderEnteredBy
  'x00402009', // OrderEntererLocation
  'x00402010', // OrderCallbackPhoneNumber
  'x00402016', // PlacerOrderNumberImagingServiceRequest
  'x00402017', // FillerOrderNumberImagingServiceRequest
  'x00402400', // ImagingServiceRequestComments
  'x00403001', // ConfidentialityConstraintOnPatientDataDescription
  'x00404005', // ScheduledProcedureStepStartDateTime
  'x00404010', // ScheduledProcedureStepModificationDateTime
  'x00404011', // ExpectedCompletionDateTime
  'x00404025', // ScheduledStationNameCodeSequence
  'x00404027', // ScheduledStationGeographicLocationCodeSequence
  'x00404028', // PerformedStationNameCodeSequence
  'x00404030', // PerformedStationGeographicLocationCodeSequence
  'x00404034', // ScheduledHumanPerformersSequence
  'x00404035', // ActualHumanPerformersSequence
  'x00404036', // HumanPerformerOrganization
  'x00404037', // HumanPerformerName
  'x00404050', // PerformedProcedureStepStartDateTime
  'x00404051', // PerformedProcedureStepEndDateTime
  'x00404052', // ProcedureStepCancellationDateTime
  // Structured content: observers, verification, content.
  'x0040a027', // VerifyingOrganization
  'x0040a030', // VerificationDateTime
  'x0040a032', // ObservationDateTime
  'x0040a073', // VerifyingObserverSequence
  'x0040a075', // VerifyingObserverName
  'x0040a078', // AuthorObserverSequence
  'x0040a07a', // ParticipantSequence
  'x0040a07c', // CustodialOrganizationSequence
  'x0040a088', // VerifyingObserverIdentificationCodeSequence
  'x0040a120', // DateTime
  'x0040a121', // Date
  'x0040a122', // Time
  'x0040a123', // PersonName
  'x0040a13a', // ReferencedDateTime
  'x0040a192', // ObservationDateTrial
  'x0040a193', // ObservationTimeTrial
  'x0040a730', // ContentSequence
  // Presentation, media and topics.
  'x00700084', // ContentCreatorName
  'x00700086', // ContentCreatorIdentificationCodeSequence
  'x00880200', // IconImageSequence (a thumbnail may show burned-in text)
  'x00880904', // TopicTitle
  'x00880906', // TopicSubject
  'x00880910', // TopicAuthor
  'x00880912', // TopicKeywords
  // Original values of modified attributes, and signatures over the originals.
  'x04000402', // ReferencedDigitalSignatureSequence
  'x04000403', // ReferencedSOPInstanceMACSequence
  'x04000404', // MAC
  'x04000561', // OriginalAttributesSequence
  'xfffafffa', // DigitalSignaturesSequence
  'x20300020', // TextString
  // Radiotherapy labels, names, descriptions, dates.
  'x30060002', // StructureSetLabel
  'x30060004', // StructureSetName
  'x30060006', // StructureSetDescription
  'x30060008', // StructureSetDate
  'x30060009', // StructureSetTime
  'x30060026', // ROIName
  'x30060028', // ROIDescription
  'x30060085', // ROIObservationLabel
  'x300600a6', // ROIInterpreter
  'x300a0002', // RTPlanLabel
  'x300a0003', // RTPlanName
  'x300a0004', // RTPlanDescription
  'x300a0006', // RTPlanDate
  'x300a0007', // RTPlanTime
  'x300a000e', // PrescriptionDescription
  'x300a0016', // DoseReferenceDescription
  'x300c0113', // ReasonForOmissionDescription
  'x300e0004', // ReviewDate
  'x300e0005', // ReviewTime
  'x300e0008', // ReviewerName
  'x40000010', // Arbitrary
  'x40004000', // TextComments
]);

/** Whole groups: patient (0010), visit and admission (0038), interpretation results (4008, retired). */
const IDENTIFYING_GROUPS = new Set(['x0010', 'x0038', 'x4008']);

/** Dates, times and date-times identify a visit whatever attribute holds them. */
const TEMPORAL_VRS = new Set(['DA', 'DT', 'TM']);

/** VRs whose values are text and are blanked with spaces; other values are zeroed. */
const TEXT_VRS = new Set(['AE', 'AS', 'CS', 'DA', 'DS', 'DT', 'IS', 'LO', 'LT', 'PN', 'SH', 'ST', 'TM', 'UC', 'UR', 'UT']);

function identifying(tag: string, vr: string | undefined): boolean {
  if (IDENTIFYING.has(tag) || IDENTIFYING_GROUPS.has(tag.slice(0, 5))) return true;
  if (vr && TEMPORAL_VRS.has(vr)) return true;
  // Overlay data and comments (60xx,3000 and 60xx,4000, even groups 6000 to 601E).
  const group = parseInt(tag.slice(1, 5), 16);
  const element = tag.slice(5);
  return group >= 0x6000 && group <= 0x601e && group % 2 === 0 && (element === '3000' || element === '4000');
}

function isPrivate(tag: string): boolean {
  return parseInt(tag.slice(4, 5), 16) % 2 === 1 && tag.slice(1, 5) !== '0001';
}

/**
 * Blanks identifying and private values of `ds` in `out`; with `all`, every value (the content
 * of a sequence that is itself identifying, pixel data of an icon included).
 */
function blank(ds: DataSet, out: Buffer, all = false): void {
  for (const [tag, el] of Object.entries(ds.elements)) {
    const remove = all || identifying(tag, el.vr);
    if (el.items) {
      // A sequence's bytes are its items: blank inside them.
      for (const item of el.items) if (item.dataSet) blank(item.dataSet, out, remove || isPrivate(tag));
      continue;
    }
    // An icon's compressed pixels come in fragments: each is zeroed.
    if (all && tag === 'x7fe00010' && el.fragments) {
      for (const f of el.fragments) out.fill(0, f.position, f.position + f.length);
      continue;
    }
    if (el.length <= 0 || el.length === 0xffffffff || el.vr === 'SQ') continue;
    if (tag === 'x7fe00010' && !all) continue;
    // Inside a wholly blanked item, group lengths and the pixel description (rows, columns, bits,
    // photometric interpretation) stay, so readers still parse it; its pixels and the rest go.
    if (all && (tag.endsWith('0000') || tag.startsWith('x0028'))) continue;
    if (!remove && !isPrivate(tag)) continue;
    // Text VRs get spaces; without a stated VR (implicit files) the listed attributes are text.
    const text = el.vr ? TEXT_VRS.has(el.vr) : !isPrivate(tag) && !all;
    out.fill(text ? 0x20 : 0, el.dataOffset, el.dataOffset + el.length);
  }
}

/**
 * A copy of a DICOM file with identifying values blanked in place (same lengths, so the file's
 * structure, pixel data and every UID are unchanged) and private elements emptied, as private
 * data may hold anything. A deflated data set is inflated (within the same size limit as for
 * reading), blanked and deflated again.
 */
export function deidentifyDicom(bytes: Buffer, opts: ParseOptions = {}): Buffer {
  let deflateAt = -1;
  const ds = dicomParser.parseDicom(bytes, {
    ...(hasDicmMagic(bytes) ? {} : { TransferSyntaxUID: '1.2.840.10008.1.2' }),
    inflater: (arr: Uint8Array, position: number) => {
      deflateAt = position;
      return inflateDataSet(arr, position, opts.maxInflatedBytes);
    },
  } as dicomParser.ParseDicomOptions);
  const out = Buffer.from(ds.byteArray);
  blank(ds, out);
  if (deflateAt >= 0) return Buffer.concat([out.subarray(0, deflateAt), zlib.deflateRawSync(out.subarray(deflateAt))]);
  return out;
}

/** Writes the de-identified copy of the DICOM file `source` to `dest`. */
export async function writeDeidentifiedDicom(source: string, dest: string): Promise<void> {
  await fs.promises.writeFile(dest, deidentifyDicom(await fs.promises.readFile(source)));
}
